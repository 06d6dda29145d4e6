"""FER+ crowd labels: the votes of 10 annotators per FER2013 face, and accuracy against their majority.

FER+ (Barsoum et al., "Training Deep Networks for Facial Expression Recognition with Crowd-Sourced
Label Distribution", ICMI 2016; the ``fer2013new.csv`` annotations, MIT licence, Copyright (c)
Microsoft Corporation) relabelled every FER2013 face by 10 crowd workers. Its votes file lists, per
image of the FER2013 folder layout, the counts for ``neutral, happiness, surprise, sadness, anger,
disgust, fear, contempt, unknown, NF`` (NF = not a face).

A face has a *clear FER+ majority* when one column has strictly more votes than every other and
that column is one of our seven emotions (not contempt, unknown or not-a-face). On the FER2013 test
split that holds for 6,721 faces, and FER2013's own label agrees with the majority on 65.5 % of
them: one label per face is noisy, and that is worth knowing before trusting any accuracy.

The votes file is found at ``$FER_FERPLUS_VOTES``, else at ``ferplus/votes.csv`` beside the data
folder (``<data>/../ferplus/votes.csv``, the layout of the shared data).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fer_core.constants import EMOTIONS
from fer_core.data import decode_face, resolve_data_dir
from fer_core.errors import DatasetError

VOTES_ENV = "FER_FERPLUS_VOTES"
#: The vote columns, in the file's order.
VOTE_COLUMNS: tuple[str, ...] = (
    "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF",
)  # fmt: skip
#: Our emotion names -> FER+'s column names.
FERPLUS_NAMES: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "neutral": "neutral",
    "sad": "sadness",
    "surprise": "surprise",
}
#: Where a credit line is needed (cards, captions, the README).
CREDIT = "FER+ votes: Barsoum et al. 2016 (Microsoft), MIT licence"
NO_MAJORITY = -1


def resolve_votes_path(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """``$FER_FERPLUS_VOTES`` if set, else ``ferplus/votes.csv`` beside the data folder."""
    env = os.environ.get(VOTES_ENV, "")
    if env:
        return Path(env).expanduser()
    return resolve_data_dir(data_dir).parent / "ferplus" / "votes.csv"


@dataclass(frozen=True)
class FerPlusVotes:
    """The FER+ votes of one split, a row per image: ``files`` are ``<emotion folder>/<file name>``."""

    split: str
    files: tuple[str, ...]
    labels: np.ndarray  # (n,) FER2013's own label, an index into EMOTIONS
    votes: np.ndarray  # (n, 10) vote counts in VOTE_COLUMNS order

    def __len__(self) -> int:
        return len(self.files)

    @property
    def emotion_votes(self) -> np.ndarray:
        """Votes for our seven emotions only ``(n, 7)``, in EMOTIONS order."""
        return self.votes[:, [VOTE_COLUMNS.index(FERPLUS_NAMES[e]) for e in EMOTIONS]]

    @property
    def majority(self) -> np.ndarray:
        """The clear FER+ majority per image as an EMOTIONS index, or :data:`NO_MAJORITY` ``(n,)``."""
        top = self.votes.max(axis=1)
        unique = (self.votes == top[:, None]).sum(axis=1) == 1
        emotion_votes = self.emotion_votes
        best = emotion_votes.argmax(axis=1)
        is_emotion = emotion_votes.max(axis=1) == top
        return np.where(unique & is_emotion & (top > 0), best, NO_MAJORITY)


def soft_targets(votes: FerPlusVotes) -> tuple[np.ndarray, np.ndarray]:
    """Training targets from the votes: ``(keep (n,), shares (n, 7))``.

    ``shares`` are each face's votes over our seven emotions divided by their sum (Barsoum et al.'s
    "cross-entropy" targets); ``keep`` drops faces whose most-voted column is contempt, unknown or
    not-a-face, or that got no emotion vote at all.
    """
    emotion = votes.emotion_votes.astype(np.float32)
    others = [VOTE_COLUMNS.index(c) for c in ("contempt", "unknown", "NF")]
    keep = ~np.isin(votes.votes.argmax(axis=1), others) & (emotion.sum(axis=1) > 0)
    shares = emotion / np.maximum(emotion.sum(axis=1, keepdims=True), 1)
    return keep, shares


def read_votes(path: str | os.PathLike[str], split: str = "test") -> FerPlusVotes:
    """The votes of ``split`` from a FER+ votes file; a missing or malformed file raises DatasetError."""
    path = Path(path)
    columns = ("split", "emotion_folder", "file", *VOTE_COLUMNS)
    files: list[str] = []
    labels: list[int] = []
    votes: list[list[int]] = []
    try:
        with open(path, newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path.name} is not a FER+ votes file: it has no {', '.join(missing)} column.")
            for row in reader:
                if row["split"] != split:
                    continue
                if row["emotion_folder"] not in EMOTIONS:
                    raise DatasetError(f"{path.name} names an unknown emotion folder {row['emotion_folder']!r}.")
                files.append(f"{row['emotion_folder']}/{row['file']}")
                labels.append(EMOTIONS.index(row["emotion_folder"]))
                votes.append([int(row[c]) for c in VOTE_COLUMNS])
    except FileNotFoundError:
        raise DatasetError(f"No FER+ votes file at {path}; set {VOTES_ENV} to its path.") from None
    except (OSError, ValueError, csv.Error) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"The FER+ votes file {path.name} could not be read ({exc}).") from None
    if not files:
        raise DatasetError(f"{path.name} has no votes for the {split} split.")
    return FerPlusVotes(split, tuple(files), np.asarray(labels, np.int64), np.asarray(votes, np.int64))


def load_faces(data_dir: str | os.PathLike[str], votes: FerPlusVotes) -> np.ndarray:
    """The faces the votes describe, read from the FER2013 image folders, in the votes' order ``(n, 48, 48)``."""
    root = resolve_data_dir(data_dir) / votes.split
    faces = np.empty((len(votes), 48, 48), np.uint8)
    unreadable: list[str] = []
    for i, name in enumerate(votes.files):
        try:
            face, _ = decode_face((root / name).read_bytes())
        except OSError:
            face = None
        if face is None:
            unreadable.append(name)
        else:
            faces[i] = face
    if unreadable:
        raise DatasetError(
            f"{len(unreadable)} face(s) named in the FER+ votes are missing or unreadable under {root} "
            f"(e.g. {unreadable[0]}); FER+ needs the image-folder FER2013 the votes were made for."
        )
    return faces


@dataclass(frozen=True)
class FerPlusTest:
    """The FER+ test votes with the faces they describe, ready to score any model."""

    votes: FerPlusVotes
    faces: np.ndarray  # (n, 48, 48) uint8, in the votes' order

    @classmethod
    def load(
        cls, data_dir: str | os.PathLike[str] | None = None, votes_path: str | os.PathLike[str] | None = None
    ) -> FerPlusTest:
        """The test votes (``votes_path``, else :func:`resolve_votes_path`) and their faces from ``data_dir``."""
        votes = read_votes(votes_path or resolve_votes_path(data_dir), "test")
        return cls(votes, load_faces(data_dir, votes))

    def score(self, predictions: np.ndarray) -> dict[str, float | int]:
        """:func:`majority_accuracy` of class predictions ``(n,)`` for :attr:`faces`."""
        return majority_accuracy(predictions, self.votes)


def majority_accuracy(predictions: np.ndarray, votes: FerPlusVotes) -> dict[str, float | int]:
    """Accuracy of ``predictions`` ``(n,)`` against the clear FER+ majority, and FER2013's own agreement."""
    majority = votes.majority
    clear = majority != NO_MAJORITY
    n = int(clear.sum())
    if n == 0:
        raise DatasetError("No face in these FER+ votes has a clear majority among the seven emotions.")
    return {
        "n": n,
        "accuracy": float((np.asarray(predictions)[clear] == majority[clear]).mean()),
        "fer2013_label_agreement": float((votes.labels[clear] == majority[clear]).mean()),
    }
