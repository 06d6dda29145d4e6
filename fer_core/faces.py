"""The one vision path shared by photos, live video and video files: find faces, crop, classify, draw.

Every caller goes through the same steps:

1. :func:`~fer_core.images.read_image` (photos) or a decoded frame gives a uint8 RGB array;
2. :func:`find_faces` detects faces on a shrunk copy (:func:`shrink_for_detection`, the one rule)
   and cuts 48x48 grey crops from the full-resolution image (:func:`crop_face`);
3. :func:`classify_faces` classifies all crops in one batch and returns :class:`FacePrediction`
   records (:func:`to_predictions` turns any probabilities, e.g. smoothed ones, into records);
4. :func:`largest_first` picks the faces worth detailing; :func:`draw_predictions` annotates.

Face detection uses the frontal-face Haar cascade that ships inside opencv-python (4.x), so nothing
is downloaded at run time. The detector holds no global state: callers keep one (the dashboard
caches one per server; the CLI makes one per run).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np

from fer_core.constants import EMOTIONS, IMAGE_SIZE
from fer_core.errors import ImageError
from fer_core.images import read_image
from fer_core.models import FerModel

Box = tuple[int, int, int, int]

#: Detection runs on a copy whose shorter side is at most this many pixels (crops still come from
#: the full image). The smallest face the detector looks for is a fraction of the shorter side
#: (``DetectorSettings.min_face_fraction``), so bounding that side fixes the smallest face in pixels
#: whatever the aspect ratio, and the cascade's cost, which grows with pixels, stays bounded.
#: Photos: 600 px keeps 5 % faces at 30 px (on ../shared/realfaces it finds the same 49 of 56 faces as
#: the older "longer side 800" rule, at the same cost).
PHOTO_SHORT_SIDE = 600
#: Video frames: webcam faces are large, and a frame must be done in a few milliseconds; 240 px
#: finds faces down to 10 % of the frame height (the cascade's 24-pixel minimum) at about a third
#: of the cost of detecting at 640x480.
VIDEO_SHORT_SIDE = 240
#: Faces whose details are listed in reports; all faces are still boxed.
MAX_DETAILED_FACES = 20


class FacePrediction(NamedTuple):
    """One face: its box ``(x, y, w, h)`` in the input image, top emotion and all probabilities."""

    box: Box
    emotion: str
    confidence: float
    probabilities: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [int(v) for v in self.box],
            "emotion": self.emotion,
            "confidence": round(float(self.confidence), 4),
            "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
        }


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectorSettings:
    """Haar-cascade settings: lower ``min_neighbors`` finds more faces (and more false ones)."""

    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_fraction: float = 0.05  # smallest face side, as a fraction of the shorter image side
    min_face_pixels: int = 24
    #: The shorter side of the copy that detection runs on (see :data:`PHOTO_SHORT_SIDE`).
    detection_short_side: int = PHOTO_SHORT_SIDE

    def __post_init__(self) -> None:
        if self.detection_short_side < 64:
            raise ValueError(
                f"The detection size must be at least 64 pixels on the shorter side, not {self.detection_short_side}."
            )


def shrink_for_detection(grey: np.ndarray, short_side: int) -> tuple[np.ndarray, float]:
    """A copy whose shorter side is at most ``short_side`` pixels, and the scale applied (<= 1)."""
    height, width = grey.shape[:2]
    scale = min(1.0, short_side / max(1, min(height, width)))
    if scale >= 1.0:
        return grey, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA), scale


class FaceDetector:
    """Thread-safe Haar-cascade face detector (one cascade object per thread)."""

    def __init__(self, cascade_file: str = "haarcascade_frontalface_default.xml") -> None:
        path = Path(cv2.data.haarcascades) / cascade_file
        if not path.is_file():
            raise ImageError(f"OpenCV's face cascade {cascade_file} is missing; install opencv-python-headless 4.x.")
        self.path = str(path)
        self._local = threading.local()

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(self.path)
            self._local.cascade = cascade
        return cascade

    def detect(self, grey: np.ndarray, settings: DetectorSettings | None = None) -> list[Box]:
        """Face boxes ``(x, y, w, h)`` in ``grey``'s coordinates, left to right."""
        settings = settings or DetectorSettings()
        small, scale = shrink_for_detection(grey, settings.detection_short_side)
        small = cv2.equalizeHist(small)
        min_side = max(settings.min_face_pixels, int(settings.min_face_fraction * min(small.shape[:2])))
        if min(small.shape[:2]) < min_side:
            return []
        found = self._cascade().detectMultiScale(
            small, scaleFactor=settings.scale_factor, minNeighbors=settings.min_neighbors, minSize=(min_side, min_side)
        )
        boxes = [tuple(int(round(v / scale)) for v in box) for box in (found if len(found) else [])]
        return sorted(boxes, key=lambda b: (b[0], b[1]))  # type: ignore[return-value]


    def detect_near(
        self, grey: np.ndarray, box: Box, settings: DetectorSettings | None = None
    ) -> Box | None:
        """The face closest to ``box`` (a face found in the previous video frame), or None.

        Searches a region twice the box's size, at face sizes from 0.7x to 1.4x the box: a few cascade
        scales on a small patch, so a tracked face costs a fraction of a full-frame detection.
        """
        settings = settings or DetectorSettings()
        x, y, w, h = box
        height, width = grey.shape[:2]
        x0, y0 = max(0, x - w // 2), max(0, y - h // 2)
        x1, y1 = min(width, x + w + w // 2), min(height, y + h + h // 2)
        if x1 - x0 < 24 or y1 - y0 < 24:
            return None
        patch = grey[y0:y1, x0:x1]
        scale = min(1.0, 64 / max(1, min(w, h)))  # ~64-pixel faces: plenty for the cascade, and cheap
        if scale < 1.0:
            size = (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale)))
            patch = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
        patch = cv2.equalizeHist(patch)
        side = min(w, h) * scale
        low, high = max(24, int(0.7 * side)), max(25, int(1.4 * side) + 1)
        if min(patch.shape[:2]) < low:
            return None
        found = self._cascade().detectMultiScale(
            patch, scaleFactor=settings.scale_factor, minNeighbors=settings.min_neighbors,
            minSize=(low, low), maxSize=(high, high),
        )  # fmt: skip
        if not len(found):
            return None
        centre = np.array([x + w / 2, y + h / 2])
        boxes = [(x0 + bx / scale, y0 + by / scale, bw / scale, bh / scale) for bx, by, bw, bh in found]
        best = min(boxes, key=lambda b: float(np.hypot(*(np.array([b[0] + b[2] / 2, b[1] + b[3] / 2]) - centre))))
        return tuple(int(round(v)) for v in best)  # type: ignore[return-value]

# --------------------------------------------------------------------------------------------
# Cropping and classification
# --------------------------------------------------------------------------------------------


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(h, w, 3)`` to grey ``(h, w)``."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def crop_face(grey: np.ndarray, box: Box, margin: float = 0.1) -> np.ndarray:
    """Cut a face with a small margin (edges replicated past the border), resized to 48x48."""
    x, y, w, h = box
    pad = int(round(margin * max(w, h)))
    x0, y0, x1, y1 = x - pad, y - pad, x + w + pad, y + h + pad
    padded = cv2.copyMakeBorder(
        grey, max(0, -y0), max(0, y1 - grey.shape[0]), max(0, -x0), max(0, x1 - grey.shape[1]), cv2.BORDER_REPLICATE
    )
    ox, oy = max(0, -x0), max(0, -y0)
    crop = padded[y0 + oy : y1 + oy, x0 + ox : x1 + ox]
    return cv2.resize(crop, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)


def no_crops() -> np.ndarray:
    """An empty batch of crops ``(0, 48, 48)``."""
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)


def find_faces(
    rgb: np.ndarray,
    detector: FaceDetector,
    settings: DetectorSettings | None = None,
    *,
    whole_image: bool = False,
) -> tuple[list[Box], np.ndarray]:
    """Boxes in ``rgb``'s coordinates, left to right, and their 48x48 grey crops ``(n, 48, 48)``.

    With ``whole_image`` the image is taken to be one face already (e.g. a FER2013 crop).
    """
    grey = to_grey(rgb)  # (h, w)
    if whole_image:
        boxes: list[Box] = [(0, 0, grey.shape[1], grey.shape[0])]
        return boxes, cv2.resize(grey, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)[None]
    boxes = detector.detect(grey, settings)
    return boxes, crops_for(grey, boxes)


def crops_for(grey: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """The 48x48 crops ``(n, 48, 48)`` of ``boxes`` in a grey image."""
    return np.stack([crop_face(grey, box) for box in boxes]) if boxes else no_crops()


def to_predictions(boxes: list[Box], probabilities: np.ndarray) -> list[FacePrediction]:
    """Prediction records for boxes and their probabilities ``(n, 7)`` (raw or smoothed)."""
    records = []
    for box, p in zip(boxes, probabilities):
        best = int(np.argmax(p))
        records.append(
            FacePrediction(
                box=tuple(int(v) for v in box),  # type: ignore[arg-type]
                emotion=EMOTIONS[best],
                confidence=float(p[best]),
                probabilities={e: float(v) for e, v in zip(EMOTIONS, p)},
            )
        )
    return records


def classify_faces(
    crops: np.ndarray, boxes: list[Box], model: FerModel, tta: bool | None = None
) -> list[FacePrediction]:
    """Classify 48x48 crops in one batch (with flip TTA where the model's headline accuracy uses it)."""
    if not boxes:
        return []
    return to_predictions(boxes, model.predict_proba(crops, tta=model.spec.tta if tta is None else tta))


def predict_image(
    image: Any,
    model: FerModel,
    detector: FaceDetector,
    *,
    whole_image: bool = False,
    settings: DetectorSettings | None = None,
) -> list[FacePrediction]:
    """Every face in ``image`` (bytes, path, PIL image or array) with its emotion, left to right."""
    boxes, crops = find_faces(read_image(image), detector, settings, whole_image=whole_image)
    return classify_faces(crops, boxes, model)


def largest_first(boxes: list[Box], limit: int) -> list[int]:
    """Indices of the ``limit`` largest boxes, kept in their original (left-to-right) order."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][2] * boxes[i][3], reverse=True)[:limit]
    return sorted(order)


# --------------------------------------------------------------------------------------------
# Drawing
# --------------------------------------------------------------------------------------------


_COLOURS = {
    "angry": (220, 50, 47),
    "disgust": (133, 153, 0),
    "fear": (108, 113, 196),
    "happy": (255, 193, 7),
    "neutral": (147, 161, 161),
    "sad": (38, 139, 210),
    "surprise": (211, 54, 130),
}


def emotion_colour(emotion: str) -> tuple[int, int, int]:
    """The RGB colour used for an emotion across the app."""
    return _COLOURS.get(emotion, (255, 255, 255))


def draw_predictions(image: np.ndarray, predictions: list[FacePrediction], numbered: bool = True) -> np.ndarray:
    """A copy of an RGB image with each face boxed, numbered and labelled with emotion + confidence."""
    canvas = np.ascontiguousarray(image.copy())
    thickness = max(2, round(max(canvas.shape[:2]) / 400))
    font_scale = max(0.5, max(canvas.shape[:2]) / 1200)
    for index, face in enumerate(predictions, 1):
        x, y, w, h = face.box
        colour = emotion_colour(face.emotion)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
        label = (
            f"{index}. {face.emotion} {face.confidence:.0%}" if numbered else f"{face.emotion} {face.confidence:.0%}"
        )
        (tw, th), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, max(1, thickness // 2))
        top = y - th - baseline - 4
        if top < 0:  # no room above the box: below it if that fits, else inside its top edge
            top = y + h if y + h + th + baseline + 4 <= canvas.shape[0] else y
        cv2.rectangle(canvas, (x, top), (x + tw + 6, top + th + baseline + 4), colour, -1)
        cv2.putText(
            canvas,
            label,
            (x + 3, top + th + 2),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            max(1, thickness // 2),
            cv2.LINE_AA,
        )
    return canvas
