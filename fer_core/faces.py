"""Photos to emotions: read any image safely, find every face, classify all faces in one batch.

Face detection uses the frontal-face Haar cascade that ships inside opencv-python (4.x), so
nothing is downloaded at run time. Large photos are downscaled for detection only; crops are cut
from the full-resolution image.
"""

from __future__ import annotations

import io
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fer_core.constants import EMOTIONS, IMAGE_SIZE
from fer_core.errors import ImageError
from fer_core.models import FerModel

#: Images with more pixels than this are refused before their pixels are decoded (decompression
#: bombs); 50 megapixels is above any phone camera.
MAX_IMAGE_PIXELS = 50_000_000
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
#: Files larger than this are refused before decoding.
MAX_FILE_BYTES = 25 * 1024 * 1024
#: Detection runs on a copy whose longer side is at most this many pixels.
DETECTION_MAX_SIDE = 800
#: Faces whose details are listed in reports; all faces are still boxed.
MAX_DETAILED_FACES = 20


class FacePrediction(NamedTuple):
    """One face: its box ``(x, y, w, h)`` in the input image, top emotion and all probabilities."""

    box: tuple[int, int, int, int]
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
# Reading images
# --------------------------------------------------------------------------------------------


def _to_rgb(pil: Image.Image) -> np.ndarray:
    """Any PIL mode (RGBA, palette, 1-bit, 16-bit, CMYK, ...) to uint8 RGB."""
    if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
        array = np.asarray(pil, dtype=np.float64)
        top = 65535.0 if pil.mode.startswith("I;16") or array.max() > 255 else 255.0
        grey = np.clip(array * (255.0 / top), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if pil.mode == "F":
        array = np.asarray(pil, dtype=np.float64)
        span = max(float(array.max() - array.min()), 1e-9)
        grey = ((array - array.min()) * (255.0 / span)).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
        rgba = pil.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("RGB"))
    return np.asarray(pil.convert("RGB"))


def read_image(source: bytes | str | os.PathLike[str] | Image.Image | np.ndarray) -> np.ndarray:
    """Read a photo into a uint8 RGB array ``(h, w, 3)``; bad input raises :class:`ImageError`.

    Honours EXIF orientation, uses the first frame of animations, converts every colour mode and
    refuses images over :data:`MAX_IMAGE_PIXELS` before decoding their pixels.
    """
    if isinstance(source, np.ndarray):
        return _array_to_rgb(source)
    if isinstance(source, Image.Image):
        return _pil_to_rgb(source)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ImageError(f"{path} does not exist or is not a file.")
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ImageError(
                f"{path.name} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; please use a smaller photo."
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"{path.name} could not be read ({exc.strerror or exc}).") from exc
    else:
        data = bytes(source)
    if not data:
        raise ImageError("The file is empty (0 bytes); it is not an image.")
    if len(data) > MAX_FILE_BYTES:
        raise ImageError(f"The file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; please use a smaller photo.")
    try:
        pil = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageError(
            f"The image declares more than {MAX_IMAGE_PIXELS // 1_000_000} megapixels; it was refused before decoding."
        ) from None
    except UnidentifiedImageError:
        raise ImageError("This file is not an image format we can read (try JPEG or PNG).") from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"This image could not be opened ({exc}).") from None
    return _pil_to_rgb(pil)


def _pil_to_rgb(pil: Image.Image) -> np.ndarray:
    width, height = pil.size
    if width * height > MAX_IMAGE_PIXELS:
        raise ImageError(
            f"The image is {width}x{height} pixels, more than the {MAX_IMAGE_PIXELS // 1_000_000} megapixel limit; "
            "please use a smaller photo."
        )
    if width < 1 or height < 1:
        raise ImageError("The image has no pixels.")
    try:
        pil.seek(0)  # first frame of an animation
        pil.load()
        pil = ImageOps.exif_transpose(pil) or pil
        return np.ascontiguousarray(_to_rgb(pil))
    except Image.DecompressionBombError:
        raise ImageError("The image declares too many pixels to be decoded safely.") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        raise ImageError(f"The image is damaged or truncated and could not be decoded ({exc}).") from None


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.size == 0 or array.ndim not in (2, 3):
        raise ImageError(f"Expected an image array of shape (h, w) or (h, w, c), got {array.shape}.")
    if array.shape[0] * array.shape[1] > MAX_IMAGE_PIXELS:
        raise ImageError("The image has too many pixels to be processed safely.")
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            finite = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0)
            scale = 255.0 if finite.max(initial=0.0) <= 1.0 else 1.0
            array = np.clip(finite * scale, 0, 255).astype(np.uint8)
        elif array.dtype == np.uint16:
            array = (array >> 8).astype(np.uint8)
        else:
            array = np.clip(array, 0, 255).astype(np.uint8)
    if array.ndim == 2:
        return np.repeat(array[..., None], 3, axis=2)
    channels = array.shape[2]
    if channels == 1:
        return np.repeat(array, 3, axis=2)
    if channels == 3:
        return np.ascontiguousarray(array)
    if channels == 4:
        return np.ascontiguousarray(array[..., :3])
    raise ImageError(f"Expected 1, 3 or 4 colour channels, got {channels}.")


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

    def detect(self, grey: np.ndarray, settings: DetectorSettings | None = None) -> list[tuple[int, int, int, int]]:
        """Face boxes ``(x, y, w, h)`` in ``grey``'s coordinates, left to right."""
        settings = settings or DetectorSettings()
        height, width = grey.shape[:2]
        scale = min(1.0, DETECTION_MAX_SIDE / max(height, width))
        small = (
            cv2.resize(
                grey, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
            )
            if scale < 1.0
            else grey
        )
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
        self, grey: np.ndarray, box: tuple[int, int, int, int], settings: DetectorSettings | None = None
    ) -> tuple[int, int, int, int] | None:
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


_default_detector: FaceDetector | None = None
_detector_lock = threading.Lock()


def default_detector() -> FaceDetector:
    """A process-wide detector, created once."""
    global _default_detector
    with _detector_lock:
        if _default_detector is None:
            _default_detector = FaceDetector()
        return _default_detector


# --------------------------------------------------------------------------------------------
# Cropping, prediction and drawing
# --------------------------------------------------------------------------------------------


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(h, w, 3)`` to grey ``(h, w)``."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def crop_face(grey: np.ndarray, box: tuple[int, int, int, int], margin: float = 0.1) -> np.ndarray:
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


def detect_faces(
    image: np.ndarray,
    *,
    whole_image: bool = False,
    settings: DetectorSettings | None = None,
    detector: FaceDetector | None = None,
) -> tuple[list[tuple[int, int, int, int]], np.ndarray]:
    """Boxes and 48x48 crops ``(n, 48, 48)`` for every face in an RGB image."""
    grey = to_grey(image)
    if whole_image:
        boxes = [(0, 0, grey.shape[1], grey.shape[0])]
        crops = cv2.resize(grey, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)[None]
        return boxes, crops
    boxes = (detector or default_detector()).detect(grey, settings)
    crops = np.stack([crop_face(grey, b) for b in boxes]) if boxes else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    return boxes, crops


def predict_faces(
    crops: np.ndarray, boxes: list[tuple[int, int, int, int]], model: FerModel, tta: bool | None = None
) -> list[FacePrediction]:
    """Classify 48x48 crops in one batch (with flip TTA where the model's headline accuracy uses it)."""
    if not boxes:
        return []
    proba = model.predict_proba(crops, tta=model.spec.tta if tta is None else tta)
    results = []
    for box, p in zip(boxes, proba):
        best = int(np.argmax(p))
        results.append(
            FacePrediction(
                box=tuple(int(v) for v in box),  # type: ignore[arg-type]
                emotion=EMOTIONS[best],
                confidence=float(p[best]),
                probabilities={e: float(v) for e, v in zip(EMOTIONS, p)},
            )
        )
    return results


def predict_image(
    image: Any,
    model: FerModel,
    *,
    whole_image: bool = False,
    settings: DetectorSettings | None = None,
    detector: FaceDetector | None = None,
) -> list[FacePrediction]:
    """Every face in ``image`` (bytes, path, PIL image or array) with its emotion, left to right."""
    rgb = read_image(image)
    boxes, crops = detect_faces(rgb, whole_image=whole_image, settings=settings, detector=detector)
    return predict_faces(crops, boxes, model)


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
