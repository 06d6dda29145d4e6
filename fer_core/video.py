"""Video files: every face's emotions over time, one frame at a time.

:func:`analyse_video` decodes a clip with PyAV, finds the faces of each frame the way the live
webcam does (:class:`fer_core.live.FrameFaceFinder`), classifies them, gives each person a stable id
(:class:`fer_core.tracking.FaceTracker`) and smooths their probabilities over recent frames. Frames
are decoded, processed and (optionally) written to an annotated H.264 copy one at a time, and the
results are kept as compact NumPy columns, so memory stays flat however long the clip is.

The result (:class:`VideoAnalysis`) gives the CSV and JSON downloads, each person's emotion shares,
their timeline, and the moments their (smoothed) emotion changes. Files that are not videos we can
read raise :class:`VideoError` with a sentence for people.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from fer_core.constants import EMOTIONS, NUM_CLASSES
from fer_core.errors import FerError
from fer_core.faces import DetectorSettings, FacePrediction, draw_predictions, largest_first, to_predictions
from fer_core.live import FrameFaceFinder, LiveSettings
from fer_core.models import FerModel
from fer_core.tracking import FaceTracker

logger = logging.getLogger(__name__)

#: File endings offered by the upload box (any container FFmpeg reads is accepted by the CLI).
VIDEO_TYPES = ("mp4", "mov", "webm", "avi", "mkv", "m4v")
#: The annotated copy is at most this wide (wider clips are scaled down; it is for watching).
ANNOTATED_MAX_WIDTH = 1280


class VideoError(FerError):
    """A file that cannot be analysed as a video, with the reason in a sentence."""


@dataclass(frozen=True)
class VideoLimits:
    """What a clip may be. The page uses :data:`PAGE_LIMITS` (Streamlit's upload limit is 200 MB)."""

    max_bytes: int = 4 * 1024**3
    max_seconds: float = 30 * 60
    max_width: int = 3840
    max_height: int = 3840
    max_pixels: int = 3840 * 2160


PAGE_LIMITS = VideoLimits(max_bytes=200 * 1024**2)


@dataclass(frozen=True)
class VideoSettings:
    """How a clip is analysed."""

    #: Classify every ``every``-th frame (1 = all); the annotated copy still has every frame.
    every: int = 1
    #: Frames (of those classified) over which each person's probabilities are averaged.
    smoothing_window: int = 5
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    #: Faces classified per frame (the largest).
    max_faces: int = 10
    #: The shorter side of the copy whole-frame detection runs on: larger finds smaller faces, slower.
    #: (Live video uses 240 for its frame budget; a file can afford to look closer.)
    detection_short_side: int = 360
    #: Search the whole frame this often (seconds of video); in between, only near the faces being followed
    #: (each costs about a tenth of a whole-frame search). Someone new is found within this time.
    full_detection_seconds: float = 1.0
    #: The cascade confirms each followed face every this many classified frames; in between, the face is
    #: followed by matching its picture (see :class:`fer_core.live.FrameFaceFinder`).
    cascade_every: int = 3
    #: A person unseen this long is taken to have left; back later, they get a new id.
    forget_after_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"--every must be 1 or more (classify every Nth frame), not {self.every}.")
        if not self.full_detection_seconds > 0:
            raise ValueError(f"Whole-frame searches need a positive interval, not {self.full_detection_seconds} s.")
        if self.smoothing_window < 1:
            raise ValueError(f"The smoothing window must be at least 1 frame, not {self.smoothing_window}.")


@dataclass(frozen=True)
class VideoInfo:
    """What the file says about its video stream."""

    name: str
    width: int
    height: int
    fps: float
    frames: int  # as the file states it, or estimated from duration x frame rate
    duration_s: float
    codec: str
    size_bytes: int


@dataclass(frozen=True)
class VideoProgress:
    """How far an analysis has come (for progress bars)."""

    frames_done: int
    frames_total: int
    seconds_done: float
    duration_s: float
    elapsed_s: float

    @property
    def fraction(self) -> float:
        if self.duration_s > 0:
            return min(1.0, self.seconds_done / self.duration_s)
        return min(1.0, self.frames_done / self.frames_total) if self.frames_total else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the speed so far; None until there is enough to go on."""
        if self.fraction < 0.01 or self.elapsed_s < 0.5:
            return None
        return self.elapsed_s * (1 - self.fraction) / self.fraction


# --------------------------------------------------------------------------------------------
# Opening a clip
# --------------------------------------------------------------------------------------------


def _describe_size(n: int) -> str:
    return f"{n / 1024**2:,.0f} MB" if n >= 1024**2 else f"{n / 1024:,.0f} KB"


def open_video(path: Path, limits: VideoLimits = VideoLimits(), name: str | None = None) -> tuple[Any, VideoInfo]:
    """Open ``path`` with PyAV; return (container, info) or raise :class:`VideoError` saying why not."""
    import av

    name = name or Path(path).name
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"{name}: there is no such file.")
    size = path.stat().st_size
    if size == 0:
        raise VideoError(f"{name} is empty (0 bytes).")
    if size > limits.max_bytes:
        raise VideoError(
            f"{name} is {_describe_size(size)}; the largest clip accepted here is {_describe_size(limits.max_bytes)}. "
            "Cut it shorter or save it at a lower resolution first."
        )
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except Exception:  # noqa: BLE001 - FFmpeg's errors, and PyAV's own on odd files (an MP4 with no frames)
        raise VideoError(
            f"{name} is not a video file we can read (it may be damaged, cut short, or another kind of file "
            "renamed). Try MP4, MOV, WebM, AVI or MKV."
        ) from None
    try:
        info = _stream_info(container, name, size, limits)
    except BaseException:
        container.close()
        raise
    return container, info


def _stream_info(container: Any, name: str, size: int, limits: VideoLimits) -> VideoInfo:
    format_name = container.format.name or ""
    if format_name.endswith("_pipe") or format_name.startswith("image2"):
        raise VideoError(f"{name} is a still picture, not a video: analyse pictures as photos instead.")
    if not container.streams.video:
        kind = " (it has sound only)" if container.streams.audio else ""
        raise VideoError(f"{name} has no video track{kind}, so there are no faces to look at.")
    stream = container.streams.video[0]
    context = stream.codec_context
    if context is None or context.codec is None or not context.name:
        tag = getattr(context, "codec_tag", "") if context is not None else ""
        raise VideoError(
            f"{name} uses a video format this app cannot decode{f' ({tag})' if tag else ''}. "
            "Convert it to MP4 (H.264) first, e.g. with a free tool such as HandBrake."
        )
    width, height = int(context.width or 0), int(context.height or 0)
    if width <= 0 or height <= 0:
        raise VideoError(f"{name}: its video track has no picture size, so it cannot be read.")
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise VideoError(
            f"{name} is {width}×{height} pixels; the largest accepted is 4K (3840×2160). "
            "Save it at a lower resolution first."
        )
    rate = stream.average_rate or stream.guessed_rate
    fps = float(rate) if rate else 0.0
    if not math.isfinite(fps) or fps <= 0 or fps > 1000:
        fps = 25.0  # the file does not say; timestamps below still come from the file
    if stream.duration is not None and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = container.duration / 1_000_000  # av.time_base
    else:
        duration = 0.0
    if duration > limits.max_seconds:
        raise VideoError(
            f"{name} lasts {duration / 60:.0f} minutes; the longest clip accepted is "
            f"{limits.max_seconds / 60:.0f} minutes. Cut it into shorter parts."
        )
    frames = int(stream.frames or round(duration * fps))
    return VideoInfo(name, width, height, fps, frames, duration, context.name, size)


def probe_video(path: Path, limits: VideoLimits = VideoLimits(), name: str | None = None) -> VideoInfo:
    """:class:`VideoInfo` of a clip, or :class:`VideoError` if it cannot be analysed."""
    container, info = open_video(path, limits, name)
    container.close()
    return info


def _frames(container: Any) -> Iterator[tuple[Any, str | None]]:
    """(frame, None) for each decodable frame; a last (None, note) if the file breaks off part-way."""
    import av

    stream = container.streams.video[0]
    stream.thread_type = "AUTO"  # FFmpeg's own frame threads: decoding overlaps our work
    try:
        for frame in container.decode(stream):
            yield frame, None
    except av.error.DecoderNotFoundError:
        yield None, "no decoder"
    except av.error.FFmpegError as exc:
        yield None, str(exc)


#: 8-bit YUV layouts whose first plane is the luma (the grey picture).
_LUMA_FIRST = {"yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"}
#: Video-range luma (16-235) to full-range grey (0-255), as an RGB-to-grey conversion would give.
_VIDEO_TO_FULL_RANGE = np.clip(np.round((np.arange(256) - 16) * 255 / 219), 0, 255).astype(np.uint8)


def grey_of(frame: Any) -> np.ndarray:
    """A decoded frame's grey picture ``(h, w)``.

    8-bit YUV frames (nearly every H.264/H.265/VP9 file) store it as their luma plane: reading that
    costs about a tenth of a conversion to RGB and differs from RGB-then-grey by 0.2 grey levels on
    average (measured on benchmarks/clips.py's walk). Other layouts are converted by FFmpeg.
    """
    name = frame.format.name
    if name not in _LUMA_FIRST:
        return frame.to_ndarray(format="gray")
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8, count=plane.line_size * frame.height).reshape(frame.height, -1)
    luma = np.ascontiguousarray(rows[:, : frame.width])
    full_range = name.startswith("yuvj") or getattr(frame, "color_range", 0) == 2  # 2: AVCOL_RANGE_JPEG
    return luma if full_range else cv2.LUT(luma, _VIDEO_TO_FULL_RANGE)


# --------------------------------------------------------------------------------------------
# Writing the annotated copy
# --------------------------------------------------------------------------------------------


class AnnotatedWriter:
    """An H.264 MP4 written frame by frame (scaled to at most :data:`ANNOTATED_MAX_WIDTH`)."""

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        import av

        scale = min(1.0, ANNOTATED_MAX_WIDTH / width)
        self.size = (max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2))  # even for yuv420p
        self.container = av.open(str(path), "w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        self.stream = self.container.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = self.size
        self.stream.pix_fmt = "yuv420p"
        self.stream.options = {"crf": "26", "preset": "veryfast", "movflags": "+faststart"}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        import av

        if (rgb.shape[1], rgb.shape[0]) != self.size:
            rgb = cv2.resize(rgb, self.size, interpolation=cv2.INTER_AREA)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self.frames
        self.frames += 1
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


# --------------------------------------------------------------------------------------------
# Results, as compact columns
# --------------------------------------------------------------------------------------------


class _Columns:
    """Rows appended one at a time, kept as NumPy chunks (a few dozen bytes per row)."""

    CHUNK = 4096

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self._chunks: list[np.ndarray] = []
        self._current = np.zeros(self.CHUNK, dtype)
        self._n = 0

    def append(self, row: tuple[Any, ...]) -> None:
        if self._n == self.CHUNK:
            self._chunks.append(self._current)
            self._current, self._n = np.zeros(self.CHUNK, self.dtype), 0
        self._current[self._n] = row
        self._n += 1

    def array(self) -> np.ndarray:
        return np.concatenate([*self._chunks, self._current[: self._n]])

    def __len__(self) -> int:
        return len(self._chunks) * self.CHUNK + self._n


FACE_ROW = np.dtype(
    [
        ("frame", np.int32),
        ("t", np.float64),
        ("id", np.int32),
        ("box", np.int32, 4),
        ("p", np.float32, NUM_CLASSES),
        ("smooth", np.float32, NUM_CLASSES),
    ]
)
FRAME_ROW = np.dtype([("frame", np.int32), ("t", np.float64)])


@dataclass
class Person:
    """One tracked face over the clip."""

    id: int
    frames_seen: int
    first_s: float
    last_s: float
    emotion_shares: dict[str, float]
    dominant: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "frames_seen": self.frames_seen,
            "first_s": round(self.first_s, 3),
            "last_s": round(self.last_s, 3),
            "dominant_emotion": self.dominant,
            "emotion_shares": {e: round(v, 4) for e, v in self.emotion_shares.items()},
        }


@dataclass
class VideoAnalysis:
    """Everything found in a clip (possibly only its first part: see ``stopped`` and ``note``)."""

    info: VideoInfo
    model_name: str
    settings: VideoSettings
    faces: np.ndarray  # FACE_ROW records, in frame order
    frames: np.ndarray  # FRAME_ROW records of every classified frame
    frames_decoded: int
    seconds: float
    stopped: bool = False
    note: str | None = None
    annotated_path: Path | None = None
    variable_frame_rate: bool = False

    # -- summaries ---------------------------------------------------------------------------

    @property
    def processed_fraction(self) -> float:
        """How much of the clip was analysed (1.0 unless stopped or broken off)."""
        if self.info.frames <= 0:
            return 1.0
        return min(1.0, self.frames_decoded / self.info.frames)

    @property
    def speed(self) -> float:
        """Video seconds analysed per second of work (above 1 is faster than real time)."""
        covered = float(self.frames["t"][-1]) + 1 / self.info.fps if len(self.frames) else 0.0
        return covered / self.seconds if self.seconds > 0 else 0.0

    def people(self) -> list[Person]:
        """Every person, by id: frames seen, share of each (smoothed) emotion, the most frequent."""
        result = []
        for pid in np.unique(self.faces["id"]):
            rows = self.faces[self.faces["id"] == pid]
            top = rows["smooth"].argmax(axis=1)
            counts = np.bincount(top, minlength=NUM_CLASSES) / len(rows)
            shares = {e: float(c) for e, c in zip(EMOTIONS, counts)}
            result.append(
                Person(
                    id=int(pid),
                    frames_seen=len(rows),
                    first_s=float(rows["t"][0]),
                    last_s=float(rows["t"][-1]),
                    emotion_shares=shares,
                    dominant=EMOTIONS[int(counts.argmax())],
                )
            )
        return result

    def timeline(self, person: int) -> tuple[np.ndarray, np.ndarray]:
        """(seconds ``(n,)``, smoothed probabilities ``(n, 7)``) of one person."""
        rows = self.faces[self.faces["id"] == person]
        return rows["t"], rows["smooth"]

    def changes(self, min_frames: int = 3) -> list[dict[str, Any]]:
        """The moments a person's smoothed emotion changes and then holds for ``min_frames`` frames."""
        out = []
        for pid in np.unique(self.faces["id"]):
            rows = self.faces[self.faces["id"] == pid]
            top = rows["smooth"].argmax(axis=1)
            current = int(top[0])
            for i in range(1, len(top)):
                new = int(top[i])
                if new != current and np.all(top[i : i + min_frames] == new) and len(top) - i >= min_frames:
                    out.append(
                        {
                            "t": round(float(rows["t"][i]), 3),
                            "frame": int(rows["frame"][i]),
                            "id": int(pid),
                            "from": EMOTIONS[current],
                            "to": EMOTIONS[new],
                        }
                    )
                    current = new
        return sorted(out, key=lambda c: (c["t"], c["id"]))

    # -- downloads ---------------------------------------------------------------------------

    def csv_text(self) -> str:
        """One row per face per classified frame: time, frame, person, box, every probability, smoothed emotion."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            [
                "t_seconds",
                "frame",
                "person_id",
                "x",
                "y",
                "w",
                "h",
                "emotion",
                "confidence",
                *(f"p_{e}" for e in EMOTIONS),
                "smoothed_emotion",
            ]
        )
        for row in self.faces:
            p = row["p"]
            best = int(p.argmax())
            writer.writerow(
                [
                    f"{row['t']:.3f}",
                    int(row["frame"]),
                    int(row["id"]),
                    *(int(v) for v in row["box"]),
                    EMOTIONS[best],
                    f"{p[best]:.4f}",
                    *(f"{v:.4f}" for v in p),
                    EMOTIONS[int(row["smooth"].argmax())],
                ]
            )
        return out.getvalue()

    def to_dict(self) -> dict[str, Any]:
        """The JSON report: the clip, every person, every classified frame with its faces.

        ``frames`` lists the classified frames (``frame_count`` is how many frames were decoded).
        """
        by_frame: dict[int, list[dict[str, Any]]] = {}
        for row in self.faces:
            p = row["p"]
            best = int(p.argmax())
            by_frame.setdefault(int(row["frame"]), []).append(
                {
                    "id": int(row["id"]),
                    "box": [int(v) for v in row["box"]],
                    "emotion": EMOTIONS[best],
                    "confidence": round(float(p[best]), 4),
                    "probabilities": {e: round(float(v), 4) for e, v in zip(EMOTIONS, p)},
                    "smoothed_emotion": EMOTIONS[int(row["smooth"].argmax())],
                }
            )
        return {
            "path": self.info.name,
            "fps": round(self.info.fps, 3),
            "duration_s": round(self.info.duration_s, 3),
            "model": self.model_name,
            "every": self.settings.every,
            "complete": not self.stopped and self.note is None,
            "note": self.note,
            "frame_count": self.frames_decoded,
            "people": [person.to_dict() for person in self.people()],
            "changes": self.changes(),
            "frames": [
                {"t": round(float(f["t"]), 3), "index": int(f["frame"]), "faces": by_frame.get(int(f["frame"]), [])}
                for f in self.frames
            ],
        }

    def json_text(self) -> str:
        return json.dumps(self.to_dict())


# --------------------------------------------------------------------------------------------
# The analysis loop
# --------------------------------------------------------------------------------------------


def analyse_video(
    path: Path,
    model: FerModel,
    detector: Any,
    *,
    settings: VideoSettings | None = None,
    limits: VideoLimits = VideoLimits(),
    name: str | None = None,
    annotated_path: Path | None = None,
    on_progress: Callable[[VideoProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> VideoAnalysis:
    """Analyse a clip frame by frame (see the module's docstring); stop early when ``should_stop()``."""
    settings = settings or VideoSettings()
    container, info = open_video(path, limits, name)
    started = clock()
    writer, pipeline = None, None
    decoded, stopped, note = 0, False, None
    times: list[float] = []  # the first frames' time stamps, to tell a variable frame rate
    last_t = 0.0
    try:
        writer = AnnotatedWriter(annotated_path, info.width, info.height, info.fps) if annotated_path else None
        pipeline = _Pipeline(model, detector, settings, info, writer)
        for frame, broken in _frames(container):
            if frame is None:
                note = _broken_note(info, decoded, broken)
                break
            if should_stop is not None and should_stop():
                stopped = True
                break
            t = float(frame.time) if frame.time is not None else decoded / info.fps
            last_t = t
            if len(times) < 2000:
                times.append(t)
            pipeline.add(decoded, t, frame)
            decoded += 1
            if on_progress is not None and (decoded % 10 == 0 or decoded == 1):
                on_progress(VideoProgress(decoded, info.frames, t, info.duration_s, clock() - started))
        pipeline.finish()
    finally:
        if pipeline is not None:
            pipeline.close()
        container.close()
        if writer is not None:
            writer.close()
    if decoded == 0 and not stopped:
        raise VideoError(
            f"{info.name} has no pictures we could decode (0 frames)"
            + (" — its video format is not supported here; convert it to MP4 (H.264)." if note else ".")
        )
    if note is None and not stopped and info.duration_s > 2.0 and last_t < 0.9 * info.duration_s - 1.0:
        note = (
            f"{info.name} ends at {last_t:.1f} s although it says it lasts {info.duration_s:.1f} s: the file is "
            "probably cut short or damaged; the results cover the part that could be read."
        )
    if on_progress is not None:
        on_progress(VideoProgress(decoded, info.frames, last_t, info.duration_s, clock() - started))
    steps = np.diff(times) if len(times) > 2 else np.zeros(0)
    variable = bool(len(steps) and steps.mean() > 0 and steps.std() / steps.mean() > 0.1)
    return VideoAnalysis(
        info=info,
        model_name=model.name,
        settings=settings,
        faces=pipeline.faces.array(),
        frames=pipeline.frames.array(),
        frames_decoded=decoded,
        seconds=clock() - started,
        stopped=stopped,
        note=note,
        annotated_path=annotated_path,
        variable_frame_rate=variable,
    )


@dataclass
class _Waiting:
    """A decoded frame whose faces are found and numbered but not classified yet."""

    index: int
    t: float
    rgb: np.ndarray | None  # kept only for the annotated copy
    classified: bool
    boxes: list[Any]
    ids: list[int]
    crops: np.ndarray


class _Pipeline:
    """Find and number faces frame by frame; classify them in batches of frames; smooth, store and draw in order.

    Batching matters on a CPU: a model call costs about 4 ms plus about 0.8 ms per face (bfloat16,
    measured), so classifying 64 faces at once instead of one frame's face makes the model's share
    of the time per frame several-fold smaller. Results are the same as frame by frame (the model sees
    each face alone; smoothing runs in frame order). Frames wait for their batch decoded in grey
    (a few kB each); with the annotated copy, in colour, so fewer of them wait.
    """

    BATCH_FACES = 64
    BATCH_FRAMES = 64
    BATCH_FRAMES_DRAWN = 16

    def __init__(
        self, model: FerModel, detector: Any, settings: VideoSettings, info: VideoInfo, writer: AnnotatedWriter | None
    ) -> None:
        self.model, self.settings, self.writer = model, settings, writer
        self.frame_settings = LiveSettings(
            smoothing_window=settings.smoothing_window,
            detector=settings.detector,
            max_faces=settings.max_faces,
            detection_short_side=settings.detection_short_side,
            full_detection_every=max(1, round(settings.full_detection_seconds * info.fps / settings.every)),
            cascade_every=settings.cascade_every,
        )
        self.finder = FrameFaceFinder(detector)
        self.grey_frames = hasattr(detector, "detect_near")  # the Haar cascade: grey in, no landmarks
        forget = max(1, math.ceil(settings.forget_after_seconds * info.fps / settings.every))
        self.tracker = FaceTracker(settings.smoothing_window, max_missed=forget)
        self.faces, self.frames = _Columns(FACE_ROW), _Columns(FRAME_ROW)
        self.waiting: list[_Waiting] = []
        self.waiting_faces = 0
        self.last_drawn: list[FacePrediction] = []
        self.last_ids: list[int] = []
        self.last_forced = -3
        self._model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fer-video-model")
        self._pending: tuple[list[_Waiting], Future[np.ndarray] | None] | None = None

    def add(self, index: int, t: float, frame: Any) -> None:
        classify = index % self.settings.every == 0
        if not classify and self.writer is None:
            return
        # (h, w, 3) for drawing; the cascade needs grey only, which 8-bit YUV video stores as is (its luma).
        rgb = grey_of(frame) if self.writer is None and self.grey_frames else frame.to_ndarray(format="rgb24")
        boxes: list[Any] = []
        ids: list[int] = []
        crops = np.zeros((0, 48, 48), np.uint8)
        if classify:
            # While someone is missing (hidden behind another face, a detector miss), search the whole frame.
            # (every third frame at most: a whole-frame search costs about fifteen tracked faces).
            missing = any(track.missed for track in self.tracker.tracks) and index - self.last_forced >= 3
            if missing:
                self.last_forced = index
            boxes, crops = self.finder.find(rgb, self.frame_settings, force_full=missing)
            keep = largest_first(boxes, self.settings.max_faces)
            boxes, crops = [boxes[i] for i in keep], crops[keep]
            ids = self.tracker.assign(boxes)
        self.waiting.append(_Waiting(index, t, rgb if self.writer else None, classify, boxes, ids, crops))
        self.waiting_faces += len(boxes)
        frames = self.BATCH_FRAMES if self.writer is None else self.BATCH_FRAMES_DRAWN
        if len(self.waiting) >= frames or self.waiting_faces >= self.BATCH_FACES:
            self.flush()

    def flush(self) -> None:
        """Send the waiting frames' faces to the model in one call, then store the batch sent before.

        The model runs on its own thread while this one decodes and searches the next frames (TensorFlow
        and OpenCV both let go of Python's lock while they compute). On 2 cores this did not measurably
        change the time, as each library already uses both cores. Frames are still stored, smoothed and
        drawn strictly in order.
        """
        batch, self.waiting, self.waiting_faces = self.waiting, [], 0
        crops = [w.crops for w in batch if w.classified and len(w.crops)]
        # No flip TTA, as in the live path: it would double the model's time per frame.
        sent = self._model_thread.submit(self.model.predict_proba, np.concatenate(crops), fast=True) if crops else None
        previous, self._pending = self._pending, (batch, sent)
        self._store(previous)

    def finish(self) -> None:
        """Classify and store everything still waiting (call once, after the last frame)."""
        self.flush()
        previous, self._pending = self._pending, None
        self._store(previous)

    def close(self) -> None:
        """Stop the model's thread (after :meth:`finish`, or to abandon the clip on an error)."""
        self._model_thread.shutdown(wait=True, cancel_futures=True)

    def _store(self, pending: tuple[list[_Waiting], Future[np.ndarray] | None] | None) -> None:
        if pending is None:
            return
        batch, sent = pending
        raw_all = sent.result() if sent is not None else np.zeros((0, NUM_CLASSES))
        start = 0
        for item in batch:
            if item.classified:
                raw = raw_all[start : start + len(item.boxes)]
                start += len(item.boxes)
                smoothed = self.tracker.smooth(item.ids, raw)
                self.last_ids = item.ids
                self.last_drawn = to_predictions(item.boxes, smoothed, not_sure_below=self.model.not_sure_below)
                self.frames.append((item.index, item.t))
                for pid, box, p, q in zip(item.ids, item.boxes, raw, smoothed):
                    self.faces.append((item.index, item.t, pid, box, p, q))
            if self.writer is not None and item.rgb is not None:
                self.writer.write(draw_predictions(item.rgb, self.last_drawn, numbers=self.last_ids))
        # People who left: forget their history, except those in frames that are still to be smoothed.
        waiting = self.waiting + (self._pending[0] if self._pending is not None else [])
        self.tracker.forget_gone(keep={pid for item in waiting for pid in item.ids})


def _broken_note(info: VideoInfo, decoded: int, reason: str | None) -> str | None:
    if decoded == 0:
        return reason
    return (
        f"{info.name} breaks off after frame {decoded:,}: the file is damaged or cut short there; "
        "the results cover the part before."
    )


# --------------------------------------------------------------------------------------------
# A clip analysed in the background (for the dashboard)
# --------------------------------------------------------------------------------------------


class VideoJob:
    """One uploaded clip analysed on a background thread, with progress, Stop and clean-up.

    The upload is written to a private temporary folder (PyAV reads files), analysed, and the folder
    is deleted when the analysis ends, whatever happens; the annotated copy is read back into memory
    first. Nothing about the clip is logged. Read ``progress``, ``analysis``, ``annotated`` and
    ``error`` from any thread; they only change from ``None`` to a value.
    """

    def __init__(
        self,
        data: bytes,
        name: str,
        model: FerModel,
        detector: Any,
        *,
        settings: VideoSettings | None = None,
        annotate: bool = True,
        limits: VideoLimits = PAGE_LIMITS,
    ) -> None:
        self.name = name
        self.progress: VideoProgress | None = None
        self.analysis: VideoAnalysis | None = None
        self.annotated: bytes | None = None
        self.error: str | None = None
        self.temp_folder: Path | None = None
        self._stop = threading.Event()
        self._done = threading.Event()
        self._args = (data, model, detector, settings or VideoSettings(), annotate, limits)
        self._thread = threading.Thread(target=self._run, name="fer-video", daemon=True)

    def start(self) -> VideoJob:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ask the analysis to stop after the current frame (what is done so far is kept)."""
        self._stop.set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the analysis has ended (for tests and scripts); True if it has."""
        return self._done.wait(timeout)

    def _run(self) -> None:
        data, model, detector, settings, annotate, limits = self._args
        self._args = ()  # the upload's bytes are not kept past the temporary file
        folder = Path(tempfile.mkdtemp(prefix="fer-video-"))
        self.temp_folder = folder
        try:
            suffix = Path(self.name).suffix.lower()
            source = folder / f"clip{suffix if suffix[1:] in VIDEO_TYPES else '.video'}"
            source.write_bytes(data)
            del data
            target = folder / "annotated.mp4" if annotate else None
            analysis = analyse_video(
                source,
                model,
                detector,
                settings=settings,
                limits=limits,
                name=self.name,
                annotated_path=target,
                on_progress=self._on_progress,
                should_stop=self._stop.is_set,
            )
            if target is not None and target.exists() and target.stat().st_size:
                self.annotated = target.read_bytes()
            self.analysis = analysis
        except FerError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001 - the page must go on serving; the reason goes to the user
            logger.warning("video analysis failed: %s", type(exc).__name__, exc_info=True)
            self.error = (
                f"{self.name} could not be analysed ({type(exc).__name__}). The file may be damaged; "
                "try converting it to MP4 (H.264)."
            )
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self._done.set()

    def _on_progress(self, progress: VideoProgress) -> None:
        self.progress = progress
