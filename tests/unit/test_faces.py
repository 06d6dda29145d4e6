"""Tests for fer_core.faces: reading any image safely, finding faces, predicting and drawing."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support.photos import astronaut, encode_pil, png_declaring

from fer_core.artifacts import load_model
from fer_core.constants import EMOTIONS
from fer_core.errors import ImageError
from fer_core.faces import FaceDetector, FacePrediction, crop_face, draw_predictions, find_faces, predict_image
from fer_core.images import read_image
from fer_core.models import FerModel


@pytest.fixture(scope="module")
def model(zoo: Path) -> FerModel:
    """The tiny zoo's logistic regression, loaded the way the app loads it."""
    return load_model("logreg", zoo)[0]


# --------------------------------------------------------------------------------------------
# read_image
# --------------------------------------------------------------------------------------------


class TestReadImage:
    def test_every_source_type(self, tmp_path: Path) -> None:
        rgb = np.zeros((10, 20, 3), np.uint8)
        rgb[..., 0] = 200
        png = encode_pil(Image.fromarray(rgb), "PNG")
        path = tmp_path / "red.png"
        path.write_bytes(png)
        for source in (png, path, str(path), Image.fromarray(rgb), rgb):
            out = read_image(source)
            assert out.shape == (10, 20, 3) and out.dtype == np.uint8
            np.testing.assert_array_equal(out, rgb)

    def test_rgba_is_composited_on_white(self) -> None:
        rgba = np.zeros((4, 4, 4), np.uint8)
        rgba[0, 0] = (255, 0, 0, 255)  # one opaque red pixel, the rest fully transparent
        out = read_image(encode_pil(Image.fromarray(rgba, "RGBA"), "PNG"))
        assert out.shape == (4, 4, 3)
        assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[3, 3]) == (255, 255, 255)

    def test_palette(self) -> None:
        palette = Image.new("P", (5, 5), 1)
        palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
        out = read_image(encode_pil(palette, "PNG"))
        assert out.shape == (5, 5, 3) and tuple(out[2, 2]) == (10, 200, 30)

    def test_sixteen_bit_grey(self) -> None:
        deep = Image.fromarray(np.array([[0, 32768, 65535]], dtype=np.uint16))
        data = encode_pil(deep, "PNG")
        assert Image.open(io.BytesIO(data)).mode.startswith("I")
        out = read_image(data)
        assert out.shape == (1, 3, 3)
        assert out[0, :, 0].tolist() == [0, 127, 255]

    def test_grey(self) -> None:
        out = read_image(encode_pil(Image.new("L", (6, 3), 77), "PNG"))
        assert out.shape == (3, 6, 3) and (out == 77).all()

    def test_cmyk_jpeg(self) -> None:
        data = encode_pil(Image.new("RGB", (16, 16), (0, 0, 255)).convert("CMYK"), "JPEG", quality=95)
        assert Image.open(io.BytesIO(data)).mode == "CMYK"
        out = read_image(data)
        assert out.shape == (16, 16, 3)
        assert out[8, 8, 2] > 200 and out[8, 8, 0] < 60  # still blue

    def test_exif_orientation_is_honoured(self) -> None:
        image = Image.new("RGB", (60, 40), (0, 0, 0))
        image.paste((255, 255, 255), (0, 0, 10, 40))  # a white band on the left edge
        exif = Image.Exif()
        exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
        out = read_image(encode_pil(image, "JPEG", exif=exif, quality=95))
        assert out.shape == (60, 40, 3)  # width and height swapped
        assert out[:10].mean() > 200 and out[-10:].mean() < 50  # the left band is now on top

    def test_animated_gif_uses_the_first_frame(self) -> None:
        first, second = Image.new("RGB", (20, 10), (255, 0, 0)), Image.new("RGB", (20, 10), (0, 0, 255))
        data = encode_pil(first, "GIF", save_all=True, append_images=[second])
        assert Image.open(io.BytesIO(data)).n_frames == 2
        out = read_image(data)
        assert out.shape == (10, 20, 3) and tuple(out[5, 5]) == (255, 0, 0)

    def test_float_and_sixteen_bit_arrays(self) -> None:
        assert read_image(np.ones((4, 4), np.float32)).max() == 255
        assert read_image(np.full((4, 4, 1), 65535, np.uint16)).min() == 255

    def test_zero_bytes(self, tmp_path: Path) -> None:
        with pytest.raises(ImageError, match=r"empty \(0 bytes\)"):
            read_image(b"")
        (tmp_path / "empty.jpg").write_bytes(b"")
        with pytest.raises(ImageError, match="empty"):
            read_image(tmp_path / "empty.jpg")

    def test_random_bytes(self) -> None:
        noise = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
        with pytest.raises(ImageError, match="not an image format we can read"):
            read_image(noise)

    def test_text_file_named_png(self, tmp_path: Path) -> None:
        fake = tmp_path / "notes.png"
        fake.write_text("Dear diary, today I trained a CNN.")
        with pytest.raises(ImageError, match="not an image format"):
            read_image(fake)

    def test_truncated_jpeg(self) -> None:
        data = encode_pil(Image.fromarray(astronaut()), "JPEG")
        with pytest.raises(ImageError, match="damaged or truncated"):
            read_image(data[: len(data) // 2])

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(ImageError, match="does not exist"):
            read_image(tmp_path / "nope.jpg")

    def test_bad_arrays(self) -> None:
        with pytest.raises(ImageError, match="Expected an image array"):
            read_image(np.zeros((0, 5), np.uint8))
        with pytest.raises(ImageError, match="colour channels"):
            read_image(np.zeros((4, 4, 5), np.uint8))

    def test_just_over_the_pixel_limit_is_refused(self) -> None:
        with pytest.raises(ImageError, match="megapixel limit"):
            read_image(png_declaring(10_000, 6_000))  # 60 MP: above our 50 MP limit

    def test_decompression_bomb_is_refused_before_decoding(self) -> None:
        # 30000 x 30000 = 900 MP: Pillow itself raises DecompressionBombError while opening, which
        # must still reach the user as an ImageError (one clear sentence), not as a crash.
        with pytest.raises(ImageError, match="pixels"):
            read_image(png_declaring(30_000, 30_000))


# --------------------------------------------------------------------------------------------
# Faces and predictions
# --------------------------------------------------------------------------------------------


def check_prediction(face: FacePrediction) -> None:
    assert list(face.probabilities) == list(EMOTIONS)
    assert sum(face.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert face.emotion == max(face.probabilities, key=face.probabilities.get)
    assert face.confidence == pytest.approx(face.probabilities[face.emotion])
    assert len(face.box) == 4 and all(isinstance(v, int) for v in face.box)


class TestPredictImage:
    def test_astronaut_has_one_face(self, model: FerModel, detector: FaceDetector) -> None:
        faces = predict_image(astronaut(), model, detector)
        assert len(faces) == 1
        check_prediction(faces[0])
        x, y, w, h = faces[0].box
        assert 150 <= x + w / 2 <= 300 and 50 <= y + h / 2 <= 200  # the face, top centre of the photo
        assert 60 <= w <= 250 and w == h

    def test_bytes_and_path_give_the_same_result(self, model: FerModel, tmp_path: Path, detector: FaceDetector) -> None:
        png = encode_pil(Image.fromarray(astronaut()), "PNG")
        (tmp_path / "astronaut.png").write_bytes(png)
        from_bytes = predict_image(png, model, detector)
        from_path = predict_image(tmp_path / "astronaut.png", model, detector)
        assert from_bytes == from_path == predict_image(astronaut(), model, detector)

    def test_crop_matches_what_the_model_sees(self, model: FerModel, detector: FaceDetector) -> None:
        boxes, crops = find_faces(astronaut(), detector)
        assert crops.shape == (1, 48, 48) and crops.dtype == np.uint8
        face = predict_image(astronaut(), model, detector)[0]
        expected = model.predict_proba(crops)[0]
        np.testing.assert_allclose([face.probabilities[e] for e in EMOTIONS], expected, atol=1e-6)

    def test_whole_image(self, model: FerModel, detector: FaceDetector) -> None:
        flat = np.full((30, 40, 3), 90, np.uint8)
        faces = predict_image(flat, model, detector, whole_image=True)
        assert len(faces) == 1 and faces[0].box == (0, 0, 40, 30)
        check_prediction(faces[0])
        expected = model.predict_proba(np.full((1, 48, 48), 90, np.uint8))[0]
        np.testing.assert_allclose([faces[0].probabilities[e] for e in EMOTIONS], expected, atol=1e-6)

    def test_no_face_on_a_flat_image(self, model: FerModel, detector: FaceDetector) -> None:
        assert predict_image(np.full((300, 400, 3), 128, np.uint8), model, detector) == []

    def test_two_faces_are_sorted_left_to_right(self, model: FerModel, detector: FaceDetector) -> None:
        head = astronaut()[0:300, 100:400]  # (300, 300, 3)
        canvas = np.full((600, 900, 3), 128, np.uint8)
        canvas[250:550, 50:350] = head  # the left face is lower ...
        canvas[20:320, 550:850] = head  # ... than the right one, so sorting by y would swap them
        faces = predict_image(canvas, model, detector)
        assert len(faces) == 2
        (x_left, y_left, _, _), (x_right, y_right, _, _) = faces[0].box, faces[1].box
        assert x_left < 350 <= 550 <= x_right and y_left > y_right
        assert faces[0].probabilities == pytest.approx(faces[1].probabilities, abs=0.05)  # the same face twice

    def test_large_photo_boxes_are_in_full_resolution_coordinates(
        self, model: FerModel, detector: FaceDetector
    ) -> None:
        big = np.repeat(np.repeat(astronaut(), 4, axis=0), 4, axis=1)  # (2048, 2048, 3): detection downscales
        small_box = predict_image(astronaut(), model, detector)[0].box
        (face,) = predict_image(big, model, detector)
        assert face.box[0] == pytest.approx(4 * small_box[0], abs=24)
        assert face.box[2] == pytest.approx(4 * small_box[2], abs=40)

    def test_bad_image_raises_image_error(self, model: FerModel, detector: FaceDetector) -> None:
        with pytest.raises(ImageError):
            predict_image(b"definitely not an image", model, detector)


class TestDrawAndCrop:
    def test_draw_predictions(self, model: FerModel, detector: FaceDetector) -> None:
        photo = astronaut()
        original = photo.copy()
        faces = predict_image(photo, model, detector)
        drawn = draw_predictions(photo, faces)
        assert drawn.shape == photo.shape and drawn.dtype == np.uint8
        assert not np.array_equal(drawn, photo)
        np.testing.assert_array_equal(photo, original)  # the input is not drawn on
        x, y, w, h = faces[0].box
        outside = np.ones(photo.shape[:2], bool)
        outside[max(0, y - 60) : y + h + 60, max(0, x - 10) : x + w + 250] = False
        np.testing.assert_array_equal(drawn[outside], photo[outside])  # only around the face

    def test_draw_nothing(self) -> None:
        photo = astronaut()
        np.testing.assert_array_equal(draw_predictions(photo, []), photo)

    def test_crop_near_the_border_is_padded(self) -> None:
        grey = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100) % 256
        crop = crop_face(grey.astype(np.uint8), (0, 0, 30, 30))
        assert crop.shape == (48, 48) and crop.dtype == np.uint8

    def test_to_dict_is_json_ready(self) -> None:
        face = FacePrediction((1, 2, 3, 4), "happy", 0.912345, {e: 1 / 7 for e in EMOTIONS})
        as_dict = face.to_dict()
        assert as_dict["box"] == [1, 2, 3, 4] and as_dict["confidence"] == 0.9123
        assert list(as_dict["probabilities"]) == list(EMOTIONS)
