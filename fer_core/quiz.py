""" "Can you beat the model?": rounds of FER2013 test faces, with the FER+ crowd's votes to compare against.

A :class:`QuizBank` holds the FER2013 test faces that have a clear FER+ majority among our seven
emotions (6,721 faces), their FER2013 label and the 10 annotators' votes. :func:`pick_round` draws a
round stratified by emotion (optionally the faces annotators disagreed on most) and
:func:`round_scores` compares a player, a model and the crowd on the same faces, against both the
FER2013 label and the FER+ majority. These faces are never used to train or select anything.
FER+ votes: Barsoum et al. 2016 (Microsoft), MIT licence.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from fer_core.constants import EMOTIONS, NUM_CLASSES
from fer_core.ferplus import CREDIT, NO_MAJORITY, VOTE_COLUMNS, FerPlusTest

#: Round lengths offered.
ROUND_SIZES = (10, 20)
#: "Hard faces" come from this share of each emotion's faces with the weakest majority.
HARD_SHARE = 0.25
__all__ = ["CREDIT", "QuizBank", "pick_round", "round_scores", "VOTE_COLUMNS"]


@dataclass(frozen=True)
class QuizBank:
    """Test faces with a clear FER+ majority: pixels, FER2013 label, the 10 votes and the majority."""

    faces: np.ndarray  # (n, 48, 48) uint8
    labels: np.ndarray  # (n,) FER2013's label, an EMOTIONS index
    votes: np.ndarray  # (n, 10) vote counts in VOTE_COLUMNS order
    majority: np.ndarray  # (n,) the FER+ majority, an EMOTIONS index
    files: tuple[str, ...]

    @classmethod
    def load(
        cls, data_dir: str | os.PathLike[str] | None = None, votes_path: str | os.PathLike[str] | None = None
    ) -> QuizBank:
        """The bank from the FER2013 image folders and the FER+ votes (DatasetError if either is missing)."""
        test = FerPlusTest.load(data_dir, votes_path)
        return cls.from_test(test)

    @classmethod
    def from_test(cls, test: FerPlusTest) -> QuizBank:
        majority = test.votes.majority
        clear = np.flatnonzero(majority != NO_MAJORITY)
        return cls(
            faces=test.faces[clear],
            labels=test.votes.labels[clear],
            votes=test.votes.votes[clear],
            majority=majority[clear],
            files=tuple(test.votes.files[i] for i in clear),
        )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def agreement(self) -> np.ndarray:
        """The share of the 10 annotators who chose the majority emotion ``(n,)`` (low = they disagreed)."""
        return self.votes.max(axis=1) / np.maximum(self.votes.sum(axis=1), 1)

    def vote_counts(self, index: int) -> dict[str, int]:
        """One face's votes by FER+ column (``neutral, happiness, … contempt, unknown, NF``)."""
        return {column: int(v) for column, v in zip(VOTE_COLUMNS, self.votes[index])}


def pick_round(bank: QuizBank, n: int = 10, *, hard: bool = False, seed: int | None = None) -> np.ndarray:
    """``n`` bank indices, as even across the seven FER2013 labels as ``n`` allows, in a shuffled order.

    With ``hard`` each emotion's faces come from the quarter of them whose FER+ majority was weakest.
    """
    if n < 1:
        raise ValueError(f"A round needs at least one face, not {n}.")
    rng = np.random.default_rng(seed)
    per_emotion = np.full(NUM_CLASSES, n // NUM_CLASSES)
    per_emotion[rng.choice(NUM_CLASSES, n % NUM_CLASSES, replace=False)] += 1
    chosen: list[int] = []
    for emotion, k in enumerate(per_emotion):
        pool = np.flatnonzero(bank.labels == emotion)
        if hard and len(pool):
            order = pool[np.argsort(bank.agreement[pool], kind="stable")]
            pool = order[: max(int(k), int(np.ceil(HARD_SHARE * len(pool))))]
        chosen.extend(rng.choice(pool, min(int(k), len(pool)), replace=False).tolist())
    return rng.permutation(np.asarray(chosen, dtype=np.int64))


def _share(a: np.ndarray, b: np.ndarray) -> float:
    return float((a == b).mean()) if len(a) else 0.0


def round_scores(bank: QuizBank, indices: np.ndarray, answers: np.ndarray, model_answers: np.ndarray) -> dict[str, Any]:
    """A player, a model and the FER+ crowd on the same faces, against FER2013's label and the crowd's majority.

    ``answers`` and ``model_answers`` are EMOTIONS indices ``(k,)`` for ``indices``; ``disagreements``
    lists the positions where the player and the model chose differently.
    """
    indices, answers, model_answers = np.asarray(indices), np.asarray(answers), np.asarray(model_answers)
    labels, majority = bank.labels[indices], bank.majority[indices]
    return {
        "n": len(indices),
        "you": {"fer2013": _share(answers, labels), "ferplus": _share(answers, majority)},
        "model": {"fer2013": _share(model_answers, labels), "ferplus": _share(model_answers, majority)},
        # The crowd's majority is the FER+ reference itself, so only its agreement with FER2013 is informative.
        "crowd": {"fer2013": _share(majority, labels), "ferplus": 1.0},
        "disagreements": [int(i) for i in np.flatnonzero(answers != model_answers)],
    }


def emotion_name(index: int) -> str:
    return EMOTIONS[int(index)]
