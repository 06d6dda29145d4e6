"""Progress events that training code emits; the CLI, the dashboard and the tests each draw them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

EventKind = Literal["start", "batch", "epoch", "step", "end", "message", "phase"]


@dataclass(frozen=True)
class ProgressEvent:
    """One progress report.

    Keras models send ``batch`` and ``epoch`` events (with ``logs`` such as loss and val_accuracy);
    scikit-learn models send ``step`` events (trees built, solver iterations). Training sends a
    ``phase`` event as each phase of a run begins (``phase`` is one of :data:`fer_core.eta.PHASE_ORDER`,
    ``message`` its label); the events after it measure progress within that phase.
    """

    kind: EventKind
    model: str
    epoch: int = 0
    epochs: int = 0
    batch: int = 0
    batches: int = 0
    step: int = 0
    steps: int = 0
    logs: dict[str, float] = field(default_factory=dict)
    message: str = ""
    phase: str = ""

    @property
    def fraction(self) -> float:
        """Overall completion in [0, 1], as well as can be told from this event."""
        if self.kind == "end":
            return 1.0
        if self.steps:
            return min(1.0, self.step / self.steps)
        if self.epochs:
            inner = self.batch / self.batches if self.batches else 0.0
            done = self.epoch if self.kind == "epoch" else self.epoch - 1 + inner
            return max(0.0, min(1.0, done / self.epochs))
        return 0.0


ProgressCallback = Callable[[ProgressEvent], None]


class StopFlag:
    """A thread-safe request to stop training at the next batch (or next chunk of trees)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()


def emit(callback: ProgressCallback | None, event: ProgressEvent) -> None:
    """Send ``event`` to ``callback`` if there is one."""
    if callback is not None:
        callback(event)
