"""Follow faces from frame to frame: a stable id per person and a moving average of their probabilities.

:class:`FaceTracker` matches each frame's faces to the people it already follows by where their
faces should be now (the last position moved on by the face's recent speed), one-to-one and with
the smallest total distance (the Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).
A person missed for a few frames (a detector miss, someone walking past in front) keeps their id
and is found again near where they were heading; after ``max_missed`` frames they are forgotten.

A tracking library (``norfair``, ``motpy``) would add a dependency for what is here about sixty
lines: faces in a classroom clip move slowly and are few, so position, speed and size suffice.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from fer_core.constants import NUM_CLASSES

Box = tuple[int, int, int, int]

#: Cost given to pairs that may not be matched (too far apart, or too different in size).
_BLOCKED = 1e6


def check_window(window: int) -> None:
    """A smoothing window is a whole number of frames, at least 1 (1 = off)."""
    if window < 1:
        raise ValueError(f"The smoothing window must be at least 1 frame (1 = off), not {window}.")


def _centre(box: Box) -> np.ndarray:
    return np.array([box[0] + box[2] / 2.0, box[1] + box[3] / 2.0])


@dataclass
class Track:
    """One person followed through the video."""

    id: int
    box: Box
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre pixels per frame
    missed: int = 0
    seen: int = 0

    def predicted_centre(self) -> np.ndarray:
        """Where the face's centre should be in the next frame."""
        return _centre(self.box) + self.velocity * (self.missed + 1)


class FaceTracker:
    """Stable ids and smoothed probabilities for the faces of consecutive frames.

    ``max_distance`` is how far (in face widths) a face may be from where it was expected and still
    be the same person; faces more than ``max_size_ratio`` times bigger or smaller are not matched.
    """

    def __init__(
        self, window: int = 5, *, max_missed: int = 5, max_distance: float = 1.0, max_size_ratio: float = 2.0
    ) -> None:
        check_window(window)
        self.window = window
        self.max_missed = max_missed
        self.max_distance = max_distance
        self.max_size_ratio = max_size_ratio
        self.tracks: list[Track] = []
        self._histories: dict[int, deque[np.ndarray]] = {}
        self._next_id = 1

    def set_window(self, window: int) -> None:
        """Change the window; histories are trimmed to the new length."""
        check_window(window)
        if window != self.window:
            self.window = window
            for key, history in self._histories.items():
                self._histories[key] = deque(list(history)[-window:], maxlen=window)

    def reset(self) -> None:
        """Forget every face (ids start again at 1)."""
        self.tracks = []
        self._histories = {}
        self._next_id = 1

    def _costs(self, boxes: list[Box]) -> np.ndarray:
        """``(faces, tracks)`` distance from each face to where each track was expected, in face widths."""
        costs = np.full((len(boxes), len(self.tracks)), _BLOCKED)
        for j, track in enumerate(self.tracks):
            expected = track.predicted_centre()
            for i, box in enumerate(boxes):
                size = max(box[2], track.box[2], 1)
                ratio = max(box[2], 1) / max(track.box[2], 1)
                distance = float(np.linalg.norm(_centre(box) - expected)) / size
                # A face lost for a while may have drifted further from where it was heading.
                if distance <= self.max_distance * (1 + 0.5 * track.missed) and (
                    1 / self.max_size_ratio <= ratio <= self.max_size_ratio
                ):
                    costs[i, j] = distance + 0.25 * abs(np.log(ratio))
        return costs

    def assign(self, boxes: list[Box]) -> list[int]:
        """The person id of each of this frame's faces (new people get new ids)."""
        matched: dict[int, int] = {}
        if boxes and self.tracks:
            costs = self._costs(boxes)
            rows, cols = linear_sum_assignment(costs)
            matched = {int(i): int(j) for i, j in zip(rows, cols) if costs[i, j] < _BLOCKED}
        used = set(matched.values())
        for j, track in enumerate(self.tracks):
            if j not in used:
                track.missed += 1
        ids: list[int] = []
        new_tracks = []
        for i, box in enumerate(boxes):
            if i in matched:
                track = self.tracks[matched[i]]
                step = (_centre(box) - _centre(track.box)) / (track.missed + 1)
                track.velocity = step if track.seen == 1 else 0.5 * track.velocity + 0.5 * step
                track.box, track.missed = box, 0
            else:
                track = Track(id=self._next_id, box=box)
                self._next_id += 1
                new_tracks.append(track)
            track.seen += 1
            ids.append(track.id)
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed] + new_tracks
        return ids

    def smooth(self, ids: list[int], probabilities: np.ndarray) -> np.ndarray:
        """The moving average ``(n, 7)`` of each person's probabilities, this frame's ``probabilities`` included.

        Call it in frame order; it may lag behind :meth:`assign` (a video classifies frames in batches).
        """
        probabilities = np.asarray(probabilities, dtype=np.float64).reshape(len(ids), NUM_CLASSES)
        smoothed = np.empty_like(probabilities)
        for i, pid in enumerate(ids):
            history = self._histories.setdefault(pid, deque(maxlen=self.window))
            history.append(probabilities[i])
            smoothed[i] = np.mean(history, axis=0)
        return smoothed

    def forget_gone(self, keep: set[int] | frozenset[int] = frozenset()) -> None:
        """Drop the histories of people no longer followed, except ``keep`` (people in frames still to be smoothed)."""
        alive = {track.id for track in self.tracks} | set(keep)
        self._histories = {pid: h for pid, h in self._histories.items() if pid in alive}

    def update(self, boxes: list[Box], probabilities: np.ndarray) -> tuple[list[int], np.ndarray]:
        """Ids and smoothed probabilities ``(n, 7)`` for this frame's faces ``boxes`` with raw ``probabilities``."""
        ids = self.assign(boxes)
        smoothed = self.smooth(ids, probabilities)
        self.forget_gone()
        return ids, smoothed
