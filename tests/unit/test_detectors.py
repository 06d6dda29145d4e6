"""The MTCNN detector, aligned crops and photo-like augmentation, on scikit-image's astronaut."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from support.photos import astronaut

from fer_core.errors import ImageError
from fer_core.faces import (
    DEFAULT_DETECTOR,
    DETECTORS,
    FER_EYE_CENTRE,
    Detection,
    FaceDetector,
    MtcnnDetector,
    aligned_crop,
    crop_face,
    find_detections,
    largest_first,
    make_detector,
    to_grey,
)
from fer_core.models.augment import photo_augment


@pytest.fixture(scope="module")
def mtcnn() -> MtcnnDetector:
    return MtcnnDetector()


def rotate(rgb: np.ndarray, degrees: float) -> np.ndarray:
    """The photo rotated about its centre on a grey canvas large enough to keep the corners."""
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    side = int(np.hypot(h, w))
    matrix[:, 2] += ((side - w) / 2, (side - h) / 2)
    return cv2.warpAffine(rgb, matrix, (side, side), borderValue=(128, 128, 128))


def largest(faces: list[Detection]) -> Detection:
    return faces[largest_first([f.box for f in faces], 1)[0]]


def test_detectors_by_name() -> None:
    assert DEFAULT_DETECTOR == "mtcnn" and set(DETECTORS) == {"mtcnn", "haar"}
    assert isinstance(make_detector("haar"), FaceDetector) and isinstance(make_detector(), MtcnnDetector)
    with pytest.raises(ImageError, match="Unknown face detector 'yolo'"):
        make_detector("yolo")


def test_mtcnn_finds_the_face_with_level_eyes_and_landmarks(mtcnn: MtcnnDetector) -> None:
    faces = mtcnn.detect_faces(astronaut())
    assert len(faces) == 1
    face = faces[0]
    x, y, w, h = face.box
    assert 150 < x + w / 2 < 290 and 60 < y + h / 2 < 200 and face.score > 0.95  # her face, top middle
    left, right, nose, mouth_left, mouth_right = face.landmarks
    assert left[0] < nose[0] < right[0] and nose[1] < mouth_left[1]
    assert abs(right[1] - left[1]) < 0.15 * (right[0] - left[0])  # nearly level


@pytest.mark.parametrize("degrees", [-40, 30])
def test_a_tilted_face_is_found_and_straightened(mtcnn: MtcnnDetector, degrees: float) -> None:
    upright = aligned_crop(to_grey(astronaut()), mtcnn.detect_faces(astronaut())[0].landmarks)
    tilted = rotate(astronaut(), degrees)
    faces = mtcnn.detect_faces(tilted)
    assert faces, f"no face at {degrees} degrees"
    face = largest(faces)
    left, right = face.landmarks[:2]
    assert abs(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])) + degrees) < 10  # the tilt it sees

    def similarity(crop: np.ndarray) -> float:
        return float(np.corrcoef(upright.ravel().astype(float), crop.ravel().astype(float))[0, 1])

    straightened = similarity(aligned_crop(to_grey(tilted), face.landmarks))
    boxed = similarity(crop_face(to_grey(tilted), face.box))  # what the model saw before alignment
    assert straightened > 0.8 and straightened > boxed + 0.4  # the same face, framed the same way


def test_a_close_up_is_found(mtcnn: MtcnnDetector) -> None:
    x, y, w, h = mtcnn.detect_faces(astronaut())[0].box
    close_up = np.ascontiguousarray(astronaut()[y : y + h, x : x + w])  # the face fills the frame
    assert mtcnn.detect_faces(close_up)


def test_no_face_on_flat_and_noisy_images(mtcnn: MtcnnDetector) -> None:
    rng = np.random.default_rng(0)
    assert mtcnn.detect_faces(np.full((300, 400, 3), 128, np.uint8)) == []
    assert mtcnn.detect_faces(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)) == []
    assert mtcnn.detect_faces(np.zeros((10, 10, 3), np.uint8)) == []  # smaller than any face


def test_aligned_crop_puts_the_eyes_where_fer2013_has_them() -> None:
    # A synthetic "face": two dark eyes on a light square, tilted by 20 degrees.
    grey = np.full((400, 400), 200, np.uint8)
    left, right = np.array([170.0, 200.0]), np.array([230.0, 200.0 + 60 * np.tan(np.radians(20))])
    for eye in (left, right):
        cv2.circle(grey, tuple(int(v) for v in eye), 4, 0, -1)
    mouth = (left + right) / 2 + np.array([0, 65])
    landmarks = np.array([left, right, (left + right) / 2 + [0, 30], mouth - [15, 0], mouth + [15, 0]], np.float32)
    crop = aligned_crop(grey, landmarks)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    dark = np.argwhere(crop < 100)  # (row, col) of the eyes' pixels
    rows = dark[:, 0]
    assert rows.max() - rows.min() <= 3  # level
    assert abs(rows.mean() - FER_EYE_CENTRE[1] * 48) < 2 and abs(dark[:, 1].mean() - FER_EYE_CENTRE[0] * 48) < 2


def test_find_detections_aligns_with_mtcnn_and_crops_boxes_with_haar(mtcnn: MtcnnDetector) -> None:
    faces, crops = find_detections(astronaut(), mtcnn)
    assert crops.shape == (1, 48, 48) and faces[0].landmarks is not None
    haar_faces, haar_crops = find_detections(astronaut(), FaceDetector())
    assert haar_crops.shape == (1, 48, 48) and haar_faces[0].landmarks is None


class TestPhotoAugment:
    def test_shape_range_and_seeded(self) -> None:
        rng = np.random.default_rng(0)
        x = rng.random((64, 48, 48)).astype(np.float32)
        a = photo_augment(x, {}, np.random.default_rng(1))
        b = photo_augment(x, {}, np.random.default_rng(1))
        assert a.shape == x.shape and a.dtype == np.float32 and a.min() >= 0.0 and a.max() <= 1.0
        assert np.array_equal(a, b) and not np.allclose(a, x)

    def test_nothing_but_flips_when_everything_is_off(self) -> None:
        x = np.random.default_rng(0).random((16, 48, 48)).astype(np.float32)
        off = {"rotate": 0, "zoom": 0, "shift": 0, "light": 0, "blur": 0, "jpeg": 0, "erase": 0}
        out = photo_augment(x, off, np.random.default_rng(2))
        for face, original in zip(out, x):
            assert np.allclose(face, original, atol=1e-5) or np.allclose(face, original[:, ::-1], atol=1e-5)
