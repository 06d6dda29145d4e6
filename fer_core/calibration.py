"""Honest confidence: temperature scaling, expected calibration error, reliability bins, "not sure".

A network's softmax is usually over-confident (and a forest's vote shares under-confident): of the
faces it labels with 90 %, far fewer than 90 % are right. *Temperature scaling* (Guo et al. 2017)
fixes most of that with one number ``T`` fitted on validation faces: probabilities become
``softmax(log p / T)``. The top emotion never changes, so accuracy does not either; only what the
percentages promise does.

The *expected calibration error* (ECE, 15 equal-width bins of the top probability) measures the gap
between promised and delivered accuracy; a *reliability diagram* draws it bin by bin.

"Not sure": below :func:`not_sure_threshold` (chosen on validation) a model's top answer is more
often wrong than right, and the app says so instead of printing a confident label.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

ECE_BINS = 15
_EPS = 1e-7


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log p / T)`` row by row ``(n, k)``; T = 1 returns the input unchanged."""
    p = np.asarray(probabilities, np.float64)
    if temperature == 1.0 or len(p) == 0:
        return np.asarray(probabilities, np.float32)
    logits = np.log(np.clip(p, _EPS, 1.0)) / float(temperature)
    logits -= logits.max(axis=1, keepdims=True)
    scaled = np.exp(logits)
    return (scaled / scaled.sum(axis=1, keepdims=True)).astype(np.float32)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    p = np.clip(np.asarray(probabilities, np.float64)[np.arange(len(labels)), labels], _EPS, 1.0)
    return float(-np.log(p).mean())


def fit_temperature(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The temperature in [0.05, 20] that minimises the validation negative log-likelihood."""
    from scipy.optimize import minimize_scalar

    labels = np.asarray(labels)
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probabilities, float(np.exp(log_t))), labels),
        bounds=(np.log(0.05), np.log(20.0)),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict[str, list[float]]:
    """Per bin of the top probability: mean confidence, accuracy and count (empty bins kept as 0)."""
    p = np.asarray(probabilities, np.float64)
    confidence = p.max(axis=1)
    correct = p.argmax(axis=1) == np.asarray(labels)
    # Bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 joins bin 0.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    sums_conf = np.bincount(which, weights=confidence, minlength=bins)
    sums_acc = np.bincount(which, weights=correct.astype(np.float64), minlength=bins)
    nonzero = np.maximum(counts, 1)
    return {
        "confidence": [round(float(v), 4) for v in sums_conf / nonzero],
        "accuracy": [round(float(v), 4) for v in sums_acc / nonzero],
        "count": [int(v) for v in counts],
    }


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Sum over bins of |accuracy - confidence| weighted by the bin's share of faces."""
    table = reliability(probabilities, labels, bins)
    counts = np.array(table["count"], np.float64)
    if counts.sum() == 0:
        return 0.0
    gaps = np.abs(np.array(table["accuracy"]) - np.array(table["confidence"]))
    return float((gaps * counts).sum() / counts.sum())


def not_sure_threshold(probabilities: np.ndarray, labels: np.ndarray, window: int = 200) -> float:
    """The top probability below which answers are more often wrong than right (on these faces).

    Faces are sorted by top probability and their accuracy is taken over a sliding window of
    ``window`` faces (a fifth of them, at least 10, when there are few); the threshold is the
    confidence in the middle of the last window that is mostly wrong. Returns 0.0 when no window is
    mostly wrong, 1.0 when even the most confident window is (a barely trained model).
    """
    p = np.asarray(probabilities, np.float64)
    confidence = p.max(axis=1)
    correct = (p.argmax(axis=1) == np.asarray(labels)).astype(np.float64)
    order = np.argsort(confidence)
    confidence, correct = confidence[order], correct[order]
    window = max(1, min(window, max(10, len(correct) // 5), len(correct)))
    running = np.convolve(correct, np.ones(window) / window, mode="valid")  # accuracy of faces i..i+window-1
    below = np.flatnonzero(running < 0.5)
    if len(below) == 0:
        return 0.0
    if below[-1] == len(running) - 1:  # even its most confident answers are mostly wrong: never sure
        return 1.0
    last = below[-1] + window // 2  # the middle of the last window that was mostly wrong
    return round(float(confidence[min(last, len(confidence) - 1)]), 3)


@dataclass
class Calibration:
    """What a card records about a model's confidence (see the module text)."""

    temperature: float
    not_sure_below: float
    n_validation: int
    ece_before: float | None = None  # on the test split
    ece_after: float | None = None
    reliability_before: dict[str, list[float]] = field(default_factory=dict)
    reliability_after: dict[str, list[float]] = field(default_factory=dict)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "temperature": round(self.temperature, 4),
            "not_sure_below": self.not_sure_below,
            "n_validation": self.n_validation,
            "ece_bins": ECE_BINS,
            "ece_before": None if self.ece_before is None else round(self.ece_before, 4),
            "ece_after": None if self.ece_after is None else round(self.ece_after, 4),
            "reliability_before": self.reliability_before,
            "reliability_after": self.reliability_after,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        temperature = float(data["temperature"])
        if not 0.0 < temperature < 100.0:
            raise ValueError(f"a calibration temperature must be between 0 and 100, not {temperature}")
        return cls(
            temperature=temperature,
            not_sure_below=float(data.get("not_sure_below", 0.0)),
            n_validation=int(data.get("n_validation", 0)),
            ece_before=data.get("ece_before"),
            ece_after=data.get("ece_after"),
            reliability_before=dict(data.get("reliability_before") or {}),
            reliability_after=dict(data.get("reliability_after") or {}),
            note=str(data.get("note", "")),
        )


def calibrate(
    val_probabilities: np.ndarray,
    val_labels: np.ndarray,
    test_probabilities: np.ndarray | None = None,
    test_labels: np.ndarray | None = None,
    note: str = "",
    fitted: tuple[float, float] | None = None,
) -> Calibration:
    """Fit the temperature and the "not sure" threshold on validation; measure ECE on test if given.

    ``fitted`` (temperature, threshold) keeps values fitted earlier on held-out faces instead, for a
    model whose validation faces were trained on (a refit).
    """
    if fitted is None:
        temperature = fit_temperature(val_probabilities, val_labels)
        threshold = not_sure_threshold(apply_temperature(val_probabilities, temperature), val_labels)
    else:
        temperature, threshold = fitted
    result = Calibration(temperature, threshold, int(len(val_labels)), note=note)
    if test_probabilities is not None and test_labels is not None and len(test_labels):
        after = apply_temperature(test_probabilities, temperature)
        result.ece_before = expected_calibration_error(test_probabilities, test_labels)
        result.ece_after = expected_calibration_error(after, test_labels)
        result.reliability_before = reliability(test_probabilities, test_labels)
        result.reliability_after = reliability(after, test_labels)
    return result
