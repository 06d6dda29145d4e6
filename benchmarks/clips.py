"""Synthetic video clips for the benchmarks and tests, made at run time (no video file is committed).

Scenes are drawn from scikit-image's astronaut: a head that moves and turns, two heads that cross,
and a head whose brightness changes half-way (so a stand-in model can "see" an expression change).
``write_clip`` encodes frames with PyAV into any container/codec pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np


def head(size: int = 120) -> np.ndarray:
    """The astronaut's head and shoulders (scikit-image's test photo), ``size`` x ``size`` RGB."""
    from skimage import data

    return cv2.resize(data.astronaut()[0:300, 100:400], (size, size), interpolation=cv2.INTER_AREA)


def paste(canvas: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    """Paste ``patch`` with its top-left corner at (x, y), clipped to the canvas (in place)."""
    h, w = patch.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, canvas.shape[1]), min(y + h, canvas.shape[0])
    if x1 > x0 and y1 > y0:
        canvas[y0:y1, x0:x1] = patch[y0 - y : y1 - y, x0 - x : x1 - x]


def rotated(patch: np.ndarray, degrees: float) -> np.ndarray:
    """``patch`` turned about its centre (edges filled with the background grey)."""
    h, w = patch.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    return cv2.warpAffine(patch, matrix, (w, h), borderValue=(128, 128, 128))


def moving_head(n: int = 60, width: int = 320, height: int = 240, size: int = 120) -> Iterator[np.ndarray]:
    """One head gliding left to right and tilting a little back and forth."""
    face = head(size)
    for i in range(n):
        canvas = np.full((height, width, 3), 128, np.uint8)
        x = int(10 + (width - size - 20) * i / max(1, n - 1))
        paste(canvas, rotated(face, 8 * np.sin(i / 6)), x, (height - size) // 2)
        yield canvas


def crossing_heads(
    n: int = 60, width: int = 480, height: int = 240, size: int = 110
) -> tuple[list[np.ndarray], list[tuple[float, float]]]:
    """Two heads walking past each other (the right one passes in front), and each head's centre x.

    Returns the frames and per frame (x of the head that started on the left, x of the other).
    """
    face = head(size)
    other = np.ascontiguousarray(face[:, ::-1])  # a mirror image: a second "person"
    frames, centres = [], []
    for i in range(n):
        canvas = np.full((height, width, 3), 128, np.uint8)
        a = int(10 + (width - size - 20) * i / max(1, n - 1))
        b = width - size - a
        paste(canvas, face, a, (height - size) // 2)
        paste(canvas, other, b, (height - size) // 2)
        frames.append(canvas)
        centres.append((a + size / 2, b + size / 2))
    return frames, centres


def brightening_head(n: int = 40, width: int = 320, height: int = 240, size: int = 120) -> Iterator[np.ndarray]:
    """A still head, dark for the first half of the clip and bright for the second."""
    face = head(size).astype(np.int16)
    for i in range(n):
        canvas = np.full((height, width, 3), 128, np.uint8)
        shift = -60 if i < n // 2 else 0  # both found by the Haar cascade
        paste(canvas, np.clip(face + shift, 0, 255).astype(np.uint8), (width - size) // 2, (height - size) // 2)
        yield canvas


def write_clip(
    path: Path,
    frames: Iterable[np.ndarray],
    fps: float = 15,
    codec: str = "libx264",
    times: Callable[[int], float] | None = None,
) -> Path:
    """Encode RGB frames into ``path`` (the container follows its extension).

    ``times(i)`` gives frame i's time stamp in seconds (a variable frame rate); default ``i / fps``.
    """
    import av

    frames = iter(frames)
    first = next(frames)
    height, width = first.shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(_chain(first, frames)):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times(i) * 1000), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _chain(first: np.ndarray, rest: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    yield first
    yield from rest
