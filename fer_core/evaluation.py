"""Evaluation: metrics as data (never printed), shared by the CLI, the dashboard and the tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from fer_core.constants import EMOTIONS, NUM_CLASSES
from fer_core.models import FerModel


def metrics_from_predictions(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """Accuracy, macro / weighted precision, recall and F1, per-class report and confusion matrix."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    y_true = np.asarray(y_true)
    y_pred = np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError("y_true and y_pred must be 1-D arrays of the same length.")
    labels = list(range(NUM_CLASSES))
    result: dict[str, Any] = {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
    }
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)
        result[f"{average}_precision"] = float(p)
        result[f"{average}_recall"] = float(r)
        result[f"{average}_f1"] = float(f)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=None, zero_division=0)
    result["per_class"] = {
        emotion: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, emotion in enumerate(EMOTIONS)
    }
    result["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=labels).tolist()
    result["classes"] = list(EMOTIONS)
    return result


def evaluate(model: FerModel, x: np.ndarray, y: np.ndarray, *, tta: bool = False) -> dict[str, Any]:
    """Evaluate ``model`` on faces ``x`` (uint8 ``(n, 48, 48)``) with labels ``y``."""
    y_pred = model.predict(x, tta=tta)
    result = metrics_from_predictions(y, y_pred)
    result["tta"] = bool(tta)
    return result


def rounded(metrics: dict[str, Any], digits: int = 4) -> dict[str, Any]:
    """A copy of a metrics dict with floats rounded, for cards and JSON output."""

    def walk(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, digits)
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(metrics)
