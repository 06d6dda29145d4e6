"""The one vision path shared by photos, live video and video files: find faces, crop, classify, draw.

Every caller goes through the same steps:

1. :func:`~fer_core.images.read_image` (photos) or a decoded frame gives a uint8 RGB array;
2. :func:`find_faces` detects faces on a shrunk copy (:func:`shrink_for_detection`, the one rule)
   and cuts 48x48 grey crops from the full-resolution image (:func:`crop_face`);
3. :func:`classify_faces` classifies all crops in one batch and returns :class:`FacePrediction`
   records (:func:`to_predictions` turns any probabilities, e.g. smoothed ones, into records);
4. :func:`largest_first` picks the faces worth detailing; :func:`draw_predictions` annotates.

Two face detectors, both working offline (:func:`make_detector`):

- ``mtcnn`` (the default for photos): MTCNN (Zhang et al. 2016) from the ``mtcnn`` package (MIT
  licence, its weights inside the wheel). It finds tilted, partly covered, close-up and small faces
  that the cascade misses and gives five landmarks (eyes, nose, mouth corners), from which
  :func:`aligned_crop` levels the eyes and frames the face as FER2013 frames its faces.
- ``haar``: the frontal-face Haar cascade (Viola and Jones 2001) inside opencv-python 4.x; about
  3x cheaper, so live video uses it, with tracking between full detections.

A detector holds no global state: callers keep one (the dashboard caches one per server and kind;
the CLI makes one per run).
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
from fer_core.models.networks import keras_module
from fer_core.quality import face_problems, judge

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
    """One face: its box ``(x, y, w, h)`` in the input image, top emotion and all probabilities.

    ``not_sure`` marks an answer not to trust, ``reasons`` says why (see :mod:`fer_core.quality`).
    """

    box: Box
    emotion: str
    confidence: float
    probabilities: dict[str, float]
    not_sure: bool = False
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": [int(v) for v in self.box],
            "emotion": self.emotion,
            "confidence": round(float(self.confidence), 4),
            "probabilities": {k: round(float(v), 4) for k, v in self.probabilities.items()},
            "not_sure": bool(self.not_sure),
            "why": list(self.reasons),
        }


class Detection(NamedTuple):
    """A face found by a detector: its box, its five landmarks when the detector gives them, a score.

    ``landmarks`` is ``(5, 2)`` float image coordinates in :data:`LANDMARK_NAMES` order.
    """

    box: Box
    landmarks: np.ndarray | None = None
    score: float = 1.0


LANDMARK_NAMES = ("left_eye", "right_eye", "nose", "mouth_left", "mouth_right")


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DetectorSettings:
    """Detection settings: lower ``min_neighbors`` (Haar) or ``min_score`` (MTCNN) finds more faces
    (and more false ones)."""

    scale_factor: float = 1.1
    min_neighbors: int = 5
    #: MTCNN: the least final-stage score a face needs (see the detector table in the README).
    min_score: float = 0.9
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
    """Thread-safe Haar-cascade face detector (one cascade object per thread); no landmarks."""

    name = "haar"

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

    def detect_faces(self, rgb: np.ndarray, settings: DetectorSettings | None = None) -> list[Detection]:
        """:meth:`detect` on an RGB image, as :class:`Detection` records (no landmarks)."""
        return [Detection(box) for box in self.detect(to_grey(rgb), settings)]

    def detect_near(self, grey: np.ndarray, box: Box, settings: DetectorSettings | None = None) -> Box | None:
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
        scale = min(1.0, NEAR_FACE_PIXELS / max(1, min(w, h)))  # small faces: plenty for the cascade (24), cheap
        if scale < 1.0:
            size = (max(1, round(patch.shape[1] * scale)), max(1, round(patch.shape[0] * scale)))
            patch = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
        patch = cv2.equalizeHist(patch)
        side = min(w, h) * scale
        low, high = max(24, int(0.7 * side)), max(25, int(1.4 * side) + 1)
        if min(patch.shape[:2]) < low:
            return None
        found, turn = np.zeros((0, 4)), None
        for degrees in (0.0, *NEAR_TURNS):  # upright first; the turned patches only when that fails
            turn = None if degrees == 0.0 else _turn(patch, degrees)
            # Coarser scale steps than a full search: the size is known to within 2x. On a 300-frame clip
            # (benchmarks/video.py's walk) 48-px faces at steps of 1.15 kept 213 of 213 re-detections at
            # half the time of 64-px faces at 1.1.
            found = self._cascade().detectMultiScale(
                patch if turn is None else turn[0], scaleFactor=max(settings.scale_factor, 1.15),
                minNeighbors=settings.min_neighbors, minSize=(low, low), maxSize=(high, high),
            )  # fmt: skip
            if len(found):
                break
        if not len(found):
            return None
        if turn is not None:  # the boxes' centres back into the upright patch; the faces keep their size
            back = turn[1]
            found = [
                (cx - bw / 2, cy - bh / 2, bw, bh)
                for (bx, by, bw, bh) in found
                for cx, cy in [back @ np.array([bx + bw / 2, by + bh / 2, 1.0])]
            ]
        centre = np.array([x + w / 2, y + h / 2])
        boxes = [(x0 + bx / scale, y0 + by / scale, bw / scale, bh / scale) for bx, by, bw, bh in found]
        best = min(boxes, key=lambda b: float(np.hypot(*(np.array([b[0] + b[2] / 2, b[1] + b[3] / 2]) - centre))))
        return tuple(int(round(v)) for v in best)  # type: ignore[return-value]


HaarDetector = FaceDetector

#: Turns (degrees) tried near a tracked face when the upright cascade misses it: the frontal cascade
#: loses faces tilted beyond about 10 degrees, and a head in a video tilts as people talk.
NEAR_TURNS = (-15.0, 15.0)
#: The size a tracked face is shrunk to before the cascade looks for it again near where it was.
NEAR_FACE_PIXELS = 48


def _turn(patch: np.ndarray, degrees: float) -> tuple[np.ndarray, np.ndarray]:
    """``patch`` turned about its centre, and the 2x3 matrix taking turned coordinates back to upright."""
    height, width = patch.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    turned = cv2.warpAffine(patch, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE)
    return turned, cv2.invertAffineTransform(matrix)


class MtcnnDetector:
    """MTCNN faces with five landmarks, from the ``mtcnn`` package (weights in its wheel, MIT).

    The network is built on first use (about a second); calls are serialised by a lock, as the
    package's TensorFlow graphs are shared.
    """

    name = "mtcnn"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._net: Any = None

    def _mtcnn(self) -> Any:
        if self._net is None:
            keras_module()  # TensorFlow first, through the one import that the CLI keeps quiet
            try:
                from mtcnn import MTCNN
            except ImportError:
                raise ImageError(
                    "The MTCNN face detector needs the mtcnn package (pip install -r requirements.txt); "
                    "choose the Haar detector meanwhile."
                ) from None
            self._net = MTCNN(device="CPU:0")
        return self._net

    def detect_faces(self, rgb: np.ndarray, settings: DetectorSettings | None = None) -> list[Detection]:
        """Faces in an RGB image, left to right, with landmarks in ``rgb``'s coordinates."""
        settings = settings or DetectorSettings()
        small, scale = shrink_for_detection(rgb, settings.detection_short_side)
        min_side = max(20, int(settings.min_face_fraction * min(small.shape[:2])))
        if min(small.shape[:2]) < min_side:
            return []
        with self._lock:
            # The package's image pyramid is only reliable from its default 20-pixel smallest face (other
            # values lose large faces in mtcnn 1.0.0), so smaller faces are dropped afterwards instead.
            found = self._mtcnn().detect_faces(
                np.ascontiguousarray(small), min_face_size=20, threshold_onet=min(settings.min_score, 0.8)
            )
        faces = []
        for face in found:
            if float(face["confidence"]) < settings.min_score or min(face["box"][2:4]) < min_side:
                continue
            x, y, w, h = (float(v) / scale for v in face["box"])
            points = np.array([face["keypoints"][k] for k in LANDMARK_NAMES], np.float32) / scale
            box = (int(round(max(0.0, x))), int(round(max(0.0, y))), int(round(w)), int(round(h)))
            faces.append(Detection(box, points, float(face["confidence"])))  # type: ignore[arg-type]
        return sorted(faces, key=lambda f: (f.box[0], f.box[1]))

    def detect(self, grey: np.ndarray, settings: DetectorSettings | None = None) -> list[Box]:
        """Face boxes in a grey image (MTCNN takes three channels: the grey one repeated)."""
        return [f.box for f in self.detect_faces(np.repeat(grey[:, :, None], 3, axis=2), settings)]


Detector = FaceDetector | MtcnnDetector
#: The detectors people can choose, by name; the first is the default for photos.
DETECTORS: dict[str, str] = {
    "mtcnn": "MTCNN (2016, mtcnn package): tilted, covered, close-up and small faces; eye landmarks",
    "haar": "Haar cascade (2001, OpenCV): upright frontal faces only; about 3x cheaper",
}
DEFAULT_DETECTOR = "mtcnn"


def make_detector(name: str = DEFAULT_DETECTOR) -> Detector:
    """A new detector by name (see :data:`DETECTORS`); an unknown name raises ImageError."""
    if name == "mtcnn":
        return MtcnnDetector()
    if name == "haar":
        return FaceDetector()
    raise ImageError(f"Unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}.")


# --------------------------------------------------------------------------------------------
# Cropping and classification
# --------------------------------------------------------------------------------------------


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB ``(h, w, 3)`` to grey ``(h, w)``; a grey image is returned as it is."""
    return rgb if rgb.ndim == 2 else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


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


#: FER2013's framing, measured with MTCNN's landmarks on 529 of 600 random FER2013 train faces
#: (medians, as fractions of the 48-pixel side): the eyes' midpoint at x 0.493, y 0.382; the eyes
#: 17.4 px (0.362) apart; the eyes' midpoint 19.5 px (0.406) above the mouth's.
FER_EYE_CENTRE = (0.493, 0.382)
FER_EYE_DISTANCE = 0.362
FER_EYE_TO_MOUTH = 0.406


def aligned_crop(grey: np.ndarray, landmarks: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """A 48x48 crop with the eyes levelled and the face framed as FER2013 frames its faces.

    The face's size is the larger of two estimates, from the eye distance and from the eye-to-mouth
    distance, so a face turned sideways (eyes closer) or tilted up or down (mouth closer) keeps its
    framing. ``scale`` > 1 shows more around the face.
    """
    left, right = landmarks[0].astype(np.float64), landmarks[1].astype(np.float64)
    mouth = (landmarks[3] + landmarks[4]).astype(np.float64) / 2
    eyes = (left + right) / 2
    side = scale * max(
        float(np.hypot(*(right - left))) / FER_EYE_DISTANCE,
        float(np.hypot(*(mouth - eyes))) / FER_EYE_TO_MOUTH,
        8.0,
    )
    angle = float(np.degrees(np.arctan2(right[1] - left[1], right[0] - left[0])))
    # Cut a square twice the face's size around the eyes (edges replicated past the border) and
    # shrink it to 192 px with area averaging, so the rotation below never aliases.
    half = int(np.ceil(side))
    cx, cy = int(round(eyes[0])), int(round(eyes[1]))
    x0, y0, x1, y1 = cx - half, cy - half, cx + half, cy + half
    padded = cv2.copyMakeBorder(
        grey, max(0, -y0), max(0, y1 - grey.shape[0]), max(0, -x0), max(0, x1 - grey.shape[1]), cv2.BORDER_REPLICATE
    )
    ox, oy = max(0, -x0), max(0, -y0)
    region = padded[y0 + oy : y1 + oy, x0 + ox : x1 + ox]
    work = 192
    shrink = work / region.shape[0]
    interpolation = cv2.INTER_AREA if shrink < 1 else cv2.INTER_LINEAR
    region = cv2.resize(region, (work, work), interpolation=interpolation)
    centre = ((eyes[0] - x0) * shrink, (eyes[1] - y0) * shrink)
    matrix = cv2.getRotationMatrix2D(centre, angle, IMAGE_SIZE / (side * shrink))
    matrix[:, 2] += np.array(FER_EYE_CENTRE) * IMAGE_SIZE - np.array(centre)
    size = (IMAGE_SIZE, IMAGE_SIZE)
    return cv2.warpAffine(region, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def crop_detection(grey: np.ndarray, face: Detection) -> np.ndarray:
    """The model's 48x48 view of a detected face: aligned when it has landmarks, else its box."""
    if face.landmarks is not None:
        return aligned_crop(grey, face.landmarks)
    return crop_face(grey, face.box)


def no_crops() -> np.ndarray:
    """An empty batch of crops ``(0, 48, 48)``."""
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)


def find_detections(
    rgb: np.ndarray,
    detector: Detector,
    settings: DetectorSettings | None = None,
    *,
    whole_image: bool = False,
) -> tuple[list[Detection], np.ndarray]:
    """Faces in ``rgb``, left to right, and their 48x48 grey crops ``(n, 48, 48)`` (aligned if possible).

    With ``whole_image`` the image is taken to be one face already (e.g. a FER2013 crop).
    """
    grey = to_grey(rgb)  # (h, w)
    if whole_image:
        whole = Detection((0, 0, grey.shape[1], grey.shape[0]))
        return [whole], cv2.resize(grey, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)[None]
    faces = detector.detect_faces(rgb, settings)
    crops = np.stack([crop_detection(grey, face) for face in faces]) if faces else no_crops()
    return faces, crops


def find_faces(
    rgb: np.ndarray,
    detector: Detector,
    settings: DetectorSettings | None = None,
    *,
    whole_image: bool = False,
) -> tuple[list[Box], np.ndarray]:
    """Boxes in ``rgb``'s coordinates, left to right, and their 48x48 grey crops ``(n, 48, 48)``."""
    faces, crops = find_detections(rgb, detector, settings, whole_image=whole_image)
    return [face.box for face in faces], crops


def crops_for(grey: np.ndarray, boxes: list[Box]) -> np.ndarray:
    """The 48x48 crops ``(n, 48, 48)`` of ``boxes`` in a grey image."""
    return np.stack([crop_face(grey, box) for box in boxes]) if boxes else no_crops()


def to_predictions(
    boxes: list[Box],
    probabilities: np.ndarray,
    problems: list[list[str]] | None = None,
    not_sure_below: float = 0.0,
) -> list[FacePrediction]:
    """Prediction records for boxes and their probabilities ``(n, 7)`` (raw or smoothed).

    ``problems`` (per face, from :func:`fer_core.quality.face_problems`) and a top probability under
    ``not_sure_below`` mark a face "not sure", with the reasons.
    """
    records = []
    for i, (box, p) in enumerate(zip(boxes, probabilities)):
        best = int(np.argmax(p))
        not_sure, reasons = judge(problems[i] if problems else [], float(p[best]), not_sure_below)
        records.append(
            FacePrediction(
                box=tuple(int(v) for v in box),  # type: ignore[arg-type]
                emotion=EMOTIONS[best],
                confidence=float(p[best]),
                probabilities={e: float(v) for e, v in zip(EMOTIONS, p)},
                not_sure=not_sure,
                reasons=reasons,
            )
        )
    return records


def detection_problems(faces: list[Detection], crops: np.ndarray) -> list[list[str]]:
    """:func:`fer_core.quality.face_problems` for each detected face and its crop."""
    return [face_problems(face.box, crop, face.landmarks, face.score) for face, crop in zip(faces, crops)]


def classify_faces(
    crops: np.ndarray,
    boxes: list[Box],
    model: FerModel,
    tta: bool | None = None,
    problems: list[list[str]] | None = None,
) -> list[FacePrediction]:
    """Classify 48x48 crops in one batch (with flip TTA where the model's headline accuracy uses it)."""
    if not boxes:
        return []
    probabilities = model.predict_proba(crops, tta=model.spec.tta if tta is None else tta)
    return to_predictions(boxes, probabilities, problems, model.not_sure_below)


def predict_image(
    image: Any,
    model: FerModel,
    detector: Detector,
    *,
    whole_image: bool = False,
    settings: DetectorSettings | None = None,
) -> list[FacePrediction]:
    """Every face in ``image`` (bytes, path, PIL image or array) with its emotion, left to right."""
    faces, crops = find_detections(read_image(image), detector, settings, whole_image=whole_image)
    problems = None if whole_image else detection_problems(faces, crops)
    return classify_faces(crops, [face.box for face in faces], model, problems=problems)


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


NOT_SURE_COLOUR = (255, 255, 255)


def emotion_colour(emotion: str) -> tuple[int, int, int]:
    """The RGB colour used for an emotion across the app."""
    return _COLOURS.get(emotion, (255, 255, 255))


def draw_predictions(
    image: np.ndarray,
    predictions: list[FacePrediction],
    numbered: bool = True,
    numbers: list[int] | None = None,
) -> np.ndarray:
    """A copy of an RGB image with each face boxed, numbered and labelled with emotion + confidence.

    ``numbers`` (e.g. the person ids of a video) label the faces "#id"; else they are numbered 1, 2, …
    when ``numbered``.
    """
    canvas = np.ascontiguousarray(image.copy())
    thickness = max(2, round(max(canvas.shape[:2]) / 400))
    font_scale = max(0.5, max(canvas.shape[:2]) / 1200)
    for index, face in enumerate(predictions, 1):
        x, y, w, h = face.box
        # A "not sure" answer gets a white box and a question mark, never a confident coloured label.
        colour = NOT_SURE_COLOUR if face.not_sure else emotion_colour(face.emotion)
        cv2.rectangle(canvas, (x, y), (x + w, y + h), colour, thickness)
        answer = f"not sure ({face.emotion}?)" if face.not_sure else f"{face.emotion} {face.confidence:.0%}"
        if numbers is not None:
            label = f"#{numbers[index - 1]} {answer}"
        else:
            label = f"{index}. {answer}" if numbered else answer
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
