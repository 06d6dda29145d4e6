"""Time left for a training run across all its phases (fit, refit, evaluation), from a plan and the pace so far.

A run goes through phases in order (:data:`PHASE_ORDER`). The plan gives each phase's expected seconds
(from a measured preset, see :mod:`fer_core.presets`) or only their relative sizes. While a phase runs,
its own pace is measured: from completed epochs when there are any (so the pause for the end-of-epoch
validation check is part of the pace and the estimate does not climb during it), else from the fraction
done. The phases still to come are scaled by how much slower or faster than planned the run has been.
The clock is injectable, so the logic is tested without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

#: Every phase a run may go through, in order.
PHASE_ORDER: tuple[str, ...] = ("fit", "refit", "evaluate")

#: What each phase is called on the page and in the CLI.
PHASE_LABELS: dict[str, str] = {
    "fit": "Training",
    "refit": "Refitting on all training images",
    "evaluate": "Evaluating on the test split",
}

#: Relative phase sizes when nothing was measured: a refit sees 1/(1 - validation share) of the images.
DEFAULT_RELATIVE_PLAN: dict[str, float] = {"fit": 1.0, "refit": 1.25, "evaluate": 0.08}

#: Before this share of a phase is done (or these seconds have passed), its own pace is not trusted yet.
MIN_FRACTION = 0.02
MIN_SECONDS = 2.0


def phases_of(refit: bool, evaluate: bool = True) -> tuple[str, ...]:
    """The phases a run goes through."""
    return tuple(p for p in PHASE_ORDER if (p != "refit" or refit) and (p != "evaluate" or evaluate))


@dataclass
class PhaseEta:
    """Seconds left over every phase of a run.

    ``plan`` maps each phase the run will go through to its expected seconds (``absolute=True``) or to
    its relative size (``absolute=False``: no estimate until the first phase shows its pace).
    """

    plan: Mapping[str, float]
    absolute: bool = True
    clock: Callable[[], float] = time.monotonic
    phase: str | None = None
    _phase_start: float = 0.0
    _fraction: float = 0.0
    _marks: list[tuple[float, float]] = field(default_factory=list)  # (time, fraction) at epoch ends
    _done: dict[str, float] = field(default_factory=dict)  # actual seconds of finished phases

    def start_phase(self, phase: str) -> None:
        """``phase`` begins now (the one before it, if any, has ended)."""
        now = self.clock()
        if self.phase is not None and self.phase != phase:
            self._done[self.phase] = now - self._phase_start
        if self.phase != phase:
            self.phase, self._phase_start, self._fraction, self._marks = phase, now, 0.0, []

    def update(self, fraction: float, *, epoch_end: bool = False) -> None:
        """The current phase is ``fraction`` done; ``epoch_end`` marks a completed epoch (validation included)."""
        self._fraction = max(self._fraction, min(1.0, max(0.0, fraction)))
        if epoch_end:
            self._marks.append((self.clock(), self._fraction))

    def _current_total(self, now: float) -> float | None:
        """Estimated seconds of the whole current phase (None if too early to tell)."""
        elapsed = now - self._phase_start
        paced: float | None = None
        if len(self._marks) >= 2:
            # The pace of the last (up to three) whole epochs: the first one also built the graph.
            (first_t, first_f), (last_t, last_f) = self._marks[-4:][0], self._marks[-1]
            if last_f > first_f:
                paced = (last_t - self._phase_start) + (1.0 - last_f) * (last_t - first_t) / (last_f - first_f)
        elif self._marks:
            last_t, last_f = self._marks[-1]
            if last_f > 0:
                paced = (last_t - self._phase_start) / last_f
        elif self._fraction >= MIN_FRACTION and elapsed >= MIN_SECONDS:
            paced = elapsed / self._fraction
        if paced is None:
            return None
        planned = self.plan.get(self.phase or "", 0.0) if self.absolute else 0.0
        if planned > 0:
            # Work before the first step or epoch (features, graph building) makes an early pace misleading:
            # trust a measured plan at first, and the pace more as the phase goes on.
            expected = max(planned * self._done_speed(), elapsed)
            return self._fraction * paced + (1.0 - self._fraction) * expected
        return paced

    def _done_speed(self) -> float:
        """Actual seconds per planned second over the finished phases (1.0 before any)."""
        planned = sum(self.plan.get(p, 0.0) for p in self._done)
        return sum(self._done.values()) / planned if planned > 0 else 1.0

    def _speed(self, current_total: float | None) -> float | None:
        """Actual seconds per planned second so far (None when nothing tells yet)."""
        actual = sum(self._done.values())
        planned = sum(self.plan.get(p, 0.0) for p in self._done)
        if current_total is not None and self.phase is not None and self.plan.get(self.phase, 0.0) > 0:
            actual += current_total
            planned += self.plan[self.phase]
        if planned > 0 and actual > 0:
            return actual / planned
        return 1.0 if self.absolute else None

    def remaining(self) -> float | None:
        """Seconds left until the last phase ends, or None if it cannot be told yet."""
        if self.phase is None:
            return None
        now = self.clock()
        elapsed = now - self._phase_start
        current_total = self._current_total(now)
        speed = self._speed(current_total)
        if current_total is None:
            if speed is None or self.phase not in self.plan:
                return None
            current_total = max(self.plan[self.phase] * speed, elapsed)
        left_here = max(0.0, current_total - elapsed)
        phases = list(self.plan)
        later = phases[phases.index(self.phase) + 1 :] if self.phase in phases else []
        if later and speed is None:
            return None
        return left_here + sum(self.plan[p] for p in later) * (speed or 1.0)
