"""Live video: detect and classify every face in each frame, smooth over frames, report to the page.

:class:`LiveProcessor` is the ``video_frame_callback`` for streamlit-webrtc. It runs on the WebRTC
worker thread, so it never touches Streamlit: it writes what the page should show (the largest
face's smoothed probabilities, a timeline, frames per second) into a :class:`LiveBuffer` guarded by
a lock, and the page polls :meth:`LiveBuffer.snapshot`. The model and the face detector are shared
and passed in; the processor only holds per-session state (tracks, smoothing, timeline).
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from fer_core.constants import EMOTIONS, NUM_CLASSES
from fer_core.faces import (
    VIDEO_SHORT_SIDE,
    Box,
    Detector,
    DetectorSettings,
    FaceDetector,
    FacePrediction,
    crops_for,
    draw_predictions,
    find_faces,
    largest_first,
    to_grey,
    to_predictions,
)
from fer_core.models import FerModel
from fer_core.tracking import FaceTracker, check_window

#: Longest timeline kept per session (at ~10 frames per second, about five minutes).
TIMELINE_LENGTH = 3000
#: Frames over which frames-per-second is measured.
FPS_WINDOW = 30


@dataclass(frozen=True)
class LiveSettings:
    """What the page lets a user change while the video runs."""

    #: Frames averaged per face; 1 means raw, unsmoothed probabilities.
    smoothing_window: int = 5
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    whole_image: bool = False
    #: Faces classified per frame (the largest ones); more would slow the video down.
    max_faces: int = 10
    #: The shorter side of the copy that whole-frame detection runs on (see faces.VIDEO_SHORT_SIDE).
    detection_short_side: int = VIDEO_SHORT_SIDE
    #: Look for faces in the whole frame every this many frames; in between, only near the faces of
    #: the previous frame (a new face appears within this many frames; 1 = whole frame every time).
    full_detection_every: int = 5
    #: The cascade confirms each followed face every this many frames; in between, the face is followed
    #: by matching its picture from the last confirmation (1 = the cascade every frame).
    cascade_every: int = 1

    def __post_init__(self) -> None:
        check_window(self.smoothing_window)
        if self.cascade_every < 1:
            raise ValueError(f"The cascade must confirm faces at least every frame, not {self.cascade_every}.")
        if self.max_faces < 1:
            raise ValueError(f"At least one face per frame must be classified, not {self.max_faces}.")
        if self.full_detection_every < 1:
            raise ValueError(f"Whole-frame detection must run at least every frame, not {self.full_detection_every}.")
        _ = self.frame_detector  # building it checks the detection size

    @property
    def frame_detector(self) -> DetectorSettings:
        """The detector settings for whole-frame detection, at the video's detection size."""
        return replace(self.detector, detection_short_side=self.detection_short_side)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax1, ay1, ax2, ay2 = a[0], a[1], a[0] + a[2], a[1] + a[3]
    bx1, by1, bx2, by2 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    inter = max(0, min(ax2, bx2) - max(ax1, bx1)) * max(0, min(ay2, by2) - max(ay1, by1))
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class ProbabilitySmoother:
    """Moving average of each face's probabilities over its last ``window`` frames.

    Faces are followed from frame to frame by :class:`fer_core.tracking.FaceTracker`, so two people
    keep separate histories. A face unseen for ``max_missed`` frames is forgotten.
    """

    def __init__(self, window: int = 5, *, max_missed: int = 5) -> None:
        self.tracker = FaceTracker(window, max_missed=max_missed)

    @property
    def window(self) -> int:
        return self.tracker.window

    def set_window(self, window: int) -> None:
        """Change the window; histories are trimmed to the new length."""
        self.tracker.set_window(window)

    def reset(self) -> None:
        """Forget every face."""
        self.tracker.reset()

    def update(self, boxes: list[Box], probabilities: np.ndarray) -> np.ndarray:
        """Smoothed probabilities ``(n, 7)`` for this frame's faces ``boxes`` with raw ``probabilities``."""
        return self.tracker.update(boxes, probabilities)[1]


def _covers(boxes: list[Box], box: Box) -> bool:
    """Whether the centre of ``box`` lies inside one of ``boxes``."""
    cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
    return any(x <= cx <= x + w and y <= cy <= y + h for x, y, w, h in boxes)


#: Side (pixels) of the picture a followed face is matched with between cascade confirmations.
TEMPLATE_SIDE = 40
#: Least normalised correlation for a match to count; below it the cascade looks for the face instead.
MIN_MATCH = 0.7


def face_template(grey: np.ndarray, box: Box) -> np.ndarray | None:
    """A face's picture at :data:`TEMPLATE_SIDE` pixels, to follow it by matching; None if it leaves the frame."""
    x, y, w, h = box
    if x < 0 or y < 0 or x + w > grey.shape[1] or y + h > grey.shape[0] or min(w, h) < 8:
        return None
    return cv2.resize(grey[y : y + h, x : x + w], (TEMPLATE_SIDE, TEMPLATE_SIDE), interpolation=cv2.INTER_AREA)


def follow(grey: np.ndarray, box: Box, template: np.ndarray, reach: float = 0.25) -> Box | None:
    """Where the face last at ``box`` (same size) went: the best match of ``template`` within ``reach``
    of its size around the old place, or None when nothing there matches well (the cascade decides).

    About 0.1 ms against about 1.2 ms for the cascade near a face (640x480 frames, 80-pixel faces).
    """
    x, y, w, h = box
    scale = TEMPLATE_SIDE / max(w, h)
    pad_x, pad_y = int(round(reach * w)), int(round(reach * h))
    x0, y0 = max(0, x - pad_x), max(0, y - pad_y)
    x1, y1 = min(grey.shape[1], x + w + pad_x), min(grey.shape[0], y + h + pad_y)
    size = (round((x1 - x0) * scale), round((y1 - y0) * scale))
    if min(size) < TEMPLATE_SIDE:
        return None
    region = cv2.resize(grey[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    scores = cv2.matchTemplate(region, template, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    if best < MIN_MATCH:
        return None
    return int(round(x0 + bx / scale)), int(round(y0 + by / scale)), w, h


@dataclass
class _Followed:
    """A face being followed from frame to frame."""

    box: Box
    template: np.ndarray | None  # its picture when the cascade last confirmed it
    matched: int = 0  # frames followed by matching since then


def _distinct(faces: list[_Followed], most_overlap: float = 0.5) -> list[int]:
    """Indices of ``faces`` without the ones that overlap an earlier one by more than ``most_overlap`` (IoU)."""
    kept: list[int] = []
    for i, face in enumerate(faces):
        if all(box_iou(face.box, faces[j].box) <= most_overlap for j in kept):
            kept.append(i)
    return kept


class FrameFaceFinder:
    """The faces of consecutive video frames, found cheaply.

    The whole frame (at ``settings.detection_short_side``) is searched every
    ``settings.full_detection_every`` frames; in between, only near the faces of the previous frame:
    by the cascade every ``settings.cascade_every`` frames, and by matching the face's picture from
    that confirmation in the frames between. A detector without ``detect_near`` (MTCNN) searches
    every frame, with eye-levelled crops. Not thread-safe: one finder per video.
    """

    def __init__(self, detector: Detector) -> None:
        self.detector = detector
        self._tracked: list[_Followed] = []
        self._since_full = 0

    def reset(self) -> None:
        self._tracked, self._since_full = [], 0

    def _near(self, grey: np.ndarray, face: _Followed, settings: LiveSettings) -> _Followed | None:
        """``face`` in this frame: matched while its confirmation is recent, else by the cascade near it."""
        if face.template is not None and face.matched + 1 < settings.cascade_every:
            box = follow(grey, face.box, face.template)
            if box is not None:
                return _Followed(box, face.template, face.matched + 1)
        box = self.detector.detect_near(grey, face.box, settings.detector)  # type: ignore[union-attr]
        return None if box is None else _Followed(box, self._template(grey, box, settings))

    @staticmethod
    def _template(grey: np.ndarray, box: Box, settings: LiveSettings) -> np.ndarray | None:
        return face_template(grey, box) if settings.cascade_every > 1 else None  # no matching: no template

    def find(self, rgb: np.ndarray, settings: LiveSettings, force_full: bool = False) -> tuple[list[Box], np.ndarray]:
        """Boxes and 48x48 crops ``(n, 48, 48)`` of the faces in an RGB or grey frame (``force_full``: all of it)."""
        near = getattr(self.detector, "detect_near", None)
        full = (
            force_full
            or settings.whole_image
            or near is None
            or not self._tracked
            or self._since_full + 1 >= settings.full_detection_every
        )
        grey = to_grey(rgb)
        found: list[_Followed | None] | None = None  # each followed face near where it was, when looked for
        if not full:
            found = [self._near(grey, face, settings) for face in self._tracked]
            full = any(face is None for face in found)  # a face moved away or left: look everywhere
        if not full:
            followed = [face for face in found or [] if face is not None]
            crops = crops_for(grey, [face.box for face in followed])
            self._since_full += 1
        else:
            # The cascade looks at grey only: the grey copy made above, not a second conversion.
            image = grey if near is not None else rgb
            boxes, crops = find_faces(image, self.detector, settings.frame_detector, whole_image=settings.whole_image)
            followed = [_Followed(box, self._template(grey, box, settings) if near else None) for box in boxes]
            self._since_full = 0
            if near is not None and self._tracked and not settings.whole_image:
                # A face the whole-frame search missed (turned for a moment) but still where it was.
                if found is None:
                    found = [None if _covers(boxes, f.box) else self._near(grey, f, settings) for f in self._tracked]
                extra = [f for f in found if f is not None and not _covers(boxes, f.box)]
                if extra:
                    followed += extra
                    crops = np.concatenate([crops, crops_for(grey, [face.box for face in extra])])
        kept = _distinct(followed)  # two followed faces that ran into one (a person hidden behind another)
        if len(kept) < len(followed):
            followed, crops = [followed[i] for i in kept], crops[kept]
        self._tracked = [] if settings.whole_image else followed
        return [face.box for face in followed], crops


# --------------------------------------------------------------------------------------------
# What the page reads
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelinePoint:
    """The largest face at one moment: seconds since the video started and its probabilities."""

    seconds: float
    emotion: str
    confidence: float
    probabilities: dict[str, float]


@dataclass(frozen=True)
class LiveSnapshot:
    """A consistent copy of the live state for the page to draw."""

    frames: int
    fps: float
    milliseconds_per_frame: float
    n_faces: int
    largest: FacePrediction | None
    timeline: tuple[TimelinePoint, ...]
    error: str | None


class LiveBuffer:
    """Lock-protected results written by the video thread and read by the page thread."""

    def __init__(self, max_points: int = TIMELINE_LENGTH) -> None:
        self._lock = threading.Lock()
        self._timeline: deque[TimelinePoint] = deque(maxlen=max_points)
        self._frames = 0
        self._fps = 0.0
        self._milliseconds = 0.0
        self._n_faces = 0
        self._largest: FacePrediction | None = None
        self._error: str | None = None

    def record(
        self,
        *,
        fps: float,
        milliseconds: float,
        faces: list[FacePrediction],
        point: TimelinePoint | None,
        error: str | None = None,
    ) -> None:
        """Store one frame's results (called from the video thread)."""
        largest = max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None
        with self._lock:
            self._frames += 1
            self._fps, self._milliseconds = fps, milliseconds
            self._n_faces, self._largest, self._error = len(faces), largest, error
            if point is not None:
                self._timeline.append(point)

    def snapshot(self) -> LiveSnapshot:
        """A copy of the current state (called from the page thread)."""
        with self._lock:
            return LiveSnapshot(
                frames=self._frames,
                fps=self._fps,
                milliseconds_per_frame=self._milliseconds,
                n_faces=self._n_faces,
                largest=self._largest,
                timeline=tuple(self._timeline),
                error=self._error,
            )

    def clear(self) -> None:
        """Forget the timeline and counters (a new recording)."""
        with self._lock:
            self._timeline.clear()
            self._frames, self._fps, self._milliseconds, self._n_faces = 0, 0.0, 0.0, 0
            self._largest, self._error = None, None


def timeline_csv(points: tuple[TimelinePoint, ...] | list[TimelinePoint]) -> str:
    """The timeline as CSV text: seconds, emotion, confidence and one column per emotion."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seconds", "emotion", "confidence", *(f"p_{e}" for e in EMOTIONS)])
    for p in points:
        writer.writerow(
            [f"{p.seconds:.3f}", p.emotion, f"{p.confidence:.4f}", *(f"{p.probabilities[e]:.4f}" for e in EMOTIONS)]
        )
    return out.getvalue()


# --------------------------------------------------------------------------------------------
# The frame processor
# --------------------------------------------------------------------------------------------


class LiveProcessor:
    """Annotates video frames with every face's (smoothed) emotion; safe to call from any thread.

    Use it directly as streamlit-webrtc's ``video_frame_callback``; or call :meth:`process` on RGB
    arrays. ``clock`` is injectable so tests can control time.
    """

    def __init__(
        self,
        model: FerModel,
        *,
        settings: LiveSettings | None = None,
        detector: FaceDetector | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._lock = threading.Lock()  # guards model, settings and smoother against the page thread
        self._model = model
        self._settings = settings or LiveSettings()
        self._clock = clock
        self._smoother = ProbabilitySmoother(self._settings.smoothing_window)
        self._frame_times: deque[float] = deque(maxlen=FPS_WINDOW)
        self._started: float | None = None
        self._finder = FrameFaceFinder(detector or FaceDetector())
        self.buffer = LiveBuffer()

    @property
    def settings(self) -> LiveSettings:
        with self._lock:
            return self._settings

    @property
    def model(self) -> FerModel:
        with self._lock:
            return self._model

    def configure(self, *, model: FerModel | None = None, **changes: Any) -> None:
        """Swap the model and/or change settings (e.g. ``smoothing_window=10``) while running."""
        with self._lock:
            if model is not None and model is not self._model:
                self._model = model
                self._smoother.reset()  # another model's probabilities must not be averaged in
            if changes:
                self._settings = replace(self._settings, **changes)
                self._smoother.set_window(self._settings.smoothing_window)

    def reset(self) -> None:
        """Start a new recording: clear tracks, timers and the buffer."""
        with self._lock:
            self._smoother.reset()
            self._frame_times.clear()
            self._started = None
            self._finder.reset()
        self.buffer.clear()

    def _tick(self) -> tuple[float, float]:
        """Record a frame time; return (seconds since start, frames per second)."""
        now = self._clock()
        if self._started is None:
            self._started = now
        self._frame_times.append(now)
        span = self._frame_times[-1] - self._frame_times[0]
        fps = (len(self._frame_times) - 1) / span if span > 0 else 0.0
        return now - self._started, fps

    def process(self, rgb: np.ndarray) -> tuple[np.ndarray, list[FacePrediction]]:
        """Detect, classify and smooth every face in an RGB frame; return (annotated copy, faces)."""
        started = self._clock()
        with self._lock:
            model, settings = self._model, self._settings
        boxes, crops = self._finder.find(rgb, settings)
        keep = largest_first(boxes, settings.max_faces)
        boxes, crops = [boxes[i] for i in keep], crops[keep]  # (k, 48, 48)
        # No flip TTA here: it would double the model's time per frame, and smoothing steadies labels anyway.
        raw = model.predict_proba(crops, fast=True) if boxes else np.zeros((0, NUM_CLASSES), np.float32)  # (k, 7)
        with self._lock:
            smoothed = self._smoother.update(boxes, raw)
            seconds, fps = self._tick()
        faces = to_predictions(boxes, smoothed, not_sure_below=model.not_sure_below)
        annotated = draw_predictions(rgb, faces, numbered=False)
        milliseconds = (self._clock() - started) * 1000.0
        _draw_status(annotated, fps, settings.smoothing_window)
        largest = max(faces, key=lambda f: f.box[2] * f.box[3]) if faces else None
        point = TimelinePoint(seconds, largest.emotion, largest.confidence, largest.probabilities) if largest else None
        self.buffer.record(fps=fps, milliseconds=milliseconds, faces=faces, point=point)
        return annotated, faces

    def __call__(self, frame: Any) -> Any:
        """streamlit-webrtc's ``video_frame_callback``: an ``av.VideoFrame`` in, an annotated one out."""
        import av

        rgb = frame.to_ndarray(format="rgb24")  # (h, w, 3)
        try:
            annotated, _ = self.process(rgb)
        except Exception as exc:  # noqa: BLE001 - a bad frame must not kill the video thread
            self.buffer.record(fps=0.0, milliseconds=0.0, faces=[], point=None, error=f"{type(exc).__name__}: {exc}")
            annotated = rgb
        out = av.VideoFrame.from_ndarray(np.ascontiguousarray(annotated), format="rgb24")
        out.pts = frame.pts
        if frame.time_base is not None:  # frames from a camera have one; synthetic frames may not
            out.time_base = frame.time_base
        return out


def _draw_status(canvas: np.ndarray, fps: float, window: int) -> None:
    """Frames per second and the smoothing setting in the top-left corner (in place)."""
    text = f"{fps:4.1f} fps | smoothing {'off' if window <= 1 else f'{window} frames'}"
    scale = max(0.45, canvas.shape[1] / 1400)
    (width, height), baseline = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.rectangle(canvas, (0, 0), (width + 10, height + baseline + 8), (0, 0, 0), -1)
    cv2.putText(canvas, text, (5, height + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
