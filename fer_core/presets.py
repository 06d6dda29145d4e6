"""Training presets: settings that fit a lesson, and each model's full recipe, with measured durations.

Every registered model has a ``lesson`` preset (finishes within :data:`LESSON_MINUTES` on 2 CPU cores,
test evaluation included) and a ``full`` preset (its recipe's defaults on all of train). What each
preset took and reached on our benchmark machine is measured by ``make bench-presets``
(:mod:`benchmarks.presets`) and stored in ``artifacts/presets.json``; the Training page scales those
seconds to the machine it runs on with a short timed check (:func:`speed_probe`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.constants import ARTIFACTS_DIR
from fer_core.errors import FerError
from fer_core.eta import DEFAULT_RELATIVE_PLAN, PHASE_ORDER, phases_of
from fer_core.models import REGISTRY, get_spec

PRESET_NAMES: tuple[str, ...] = ("lesson", "full")
LESSON_MINUTES = 5

#: The seed notebook's test accuracy for each model's family: what a lesson preset has to beat.
SEED_NOTEBOOK: dict[str, float] = {
    "logreg": 0.328,
    "random_forest": 0.454,
    "mlp": 0.284,
    "lstm": 0.412,
    "cnn_basic": 0.549,
    "cnn": 0.549,
}

#: Measured durations and accuracies of every preset (written by ``make bench-presets``).
MEASURED_FILE = ARTIFACTS_DIR / "presets.json"


@dataclass(frozen=True)
class Preset:
    """Settings for one model: parameter overrides on its recipe and the subset size (None: all of train)."""

    model: str
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    limit: int | None = None
    summary: str = ""

    def resolved_params(self) -> dict[str, Any]:
        """The recipe's defaults with this preset's overrides."""
        return {**get_spec(self.model).default_params, **self.params}


_LESSON: dict[str, Preset] = {
    "logreg": Preset(
        "logreg",
        "lesson",
        {"max_iter": 200, "refit_full_train": False, "validation_fraction": 0.1},
        None,
        "HOG + pixels, 200 solver steps, no refit on the validation images",
    ),
    "random_forest": Preset(
        "random_forest",
        "lesson",
        {"n_estimators": 150, "refit_full_train": False, "validation_fraction": 0.1},
        None,
        "150 trees on the faces and their mirror images, no refit on the validation images",
    ),
    "mlp": Preset("mlp", "lesson", {"epochs": 20}, None, "20 epochs"),
    "lstm": Preset(
        "lstm",
        "lesson",
        {"epochs": 7, "precision": "mixed_bfloat16", "augment": False, "dropout": 0.1, "schedule": "cosine"},
        None,
        "7 epochs in mixed bfloat16, no augmentation, learning rate decaying to zero",
    ),
    "cnn_basic": Preset(
        "cnn_basic",
        "lesson",
        {"epochs": 7, "batch_size": 128, "learning_rate": 0.002, "schedule": "cosine", "validation_fraction": 0.1},
        24000,
        "7 epochs on 24,000 images, batch 128, learning rate 0.002 decaying to zero",
    ),
    "cnn": Preset(
        "cnn",
        "lesson",
        {"epochs": 6, "ensemble_epochs": [6], "warmup_epochs": 1, "widths": [24, 48, 96, 192]},
        20000,
        "one network three-quarters as wide, 6 epochs on 20,000 images",
    ),
    "cnn_ferplus": Preset(
        "cnn_ferplus",
        "lesson",
        {"epochs": 1, "ensemble_epochs": [1]},
        8000,
        "one network of the installed Best CNN fine-tuned for 1 epoch on 8,000 faces' FER+ votes",
    ),
}

PRESETS: dict[str, dict[str, Preset]] = {
    name: {
        "lesson": _LESSON[name],
        "full": Preset(name, "full", {}, None, "the recipe's own settings on all training images"),
    }
    for name in REGISTRY
}


def get_preset(model: str, name: str) -> Preset:
    """The preset ``name`` of ``model``; an unknown one fails with the valid names."""
    get_spec(model)  # an unknown model fails with the list of models
    try:
        return PRESETS[model][name]
    except KeyError:
        raise FerError(f"Unknown preset {name!r}. Choose one of: {', '.join(PRESET_NAMES)}.") from None


def read_measured(path: Path | None = None) -> dict[str, Any]:
    """The benchmark's record of every preset (empty if it has not been run, or is unreadable)."""
    try:
        record = json.loads(Path(path or MEASURED_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def measured_version(path: Path | None = None) -> str:
    """Changes whenever the benchmark's record does (its modification time), for caches."""
    try:
        return str(Path(path or MEASURED_FILE).stat().st_mtime_ns)
    except OSError:
        return "none"


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def measured(model: str, name: str, record: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """What ``model``'s preset ``name`` took and reached on the benchmark machine, or None.

    An entry without a measured time (or with phases that are not numbers) counts as not measured.
    """
    record = read_measured() if record is None else record
    presets = record.get("presets")
    by_model = presets.get(model) if isinstance(presets, dict) else None
    found = by_model.get(name) if isinstance(by_model, dict) else None
    if not isinstance(found, dict) or not _number(found.get("seconds")):
        return None
    phases = found.get("phases")
    if phases is not None and not (isinstance(phases, dict) and all(_number(v) for v in phases.values())):
        found = {k: v for k, v in found.items() if k != "phases"}
    if found.get("accuracy") is not None and not _number(found["accuracy"]):
        found = {**found, "accuracy": None}
    return found


def speed_probe(repeats: int = 5) -> float:
    """Seconds of a fixed float32 matrix workload (median of ``repeats``): how fast this machine is."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((384, 384), dtype=np.float32)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(20):
            a = np.tanh(a @ a * 0.01)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def machine_factor(record: Mapping[str, Any] | None = None, probe: float | None = None) -> float:
    """How much longer work takes here than on the benchmark machine (1.0 when unknown)."""
    record = read_measured() if record is None else record
    then = float(record.get("probe_seconds") or 0.0) if _number(record.get("probe_seconds")) else 0.0
    if then <= 0:
        return 1.0
    now = speed_probe() if probe is None else probe
    return max(0.25, min(8.0, now / then))


def expected_phases(
    model: str, name: str, record: Mapping[str, Any] | None = None, factor: float = 1.0
) -> dict[str, float] | None:
    """Expected seconds of each phase of the preset here (benchmark seconds x ``factor``), or None."""
    found = measured(model, name, record)
    if not found or not found.get("phases"):
        return None
    # Loading the dataset comes before the first phase (the page says "Loading the dataset" meanwhile).
    return {phase: float(seconds) * factor for phase, seconds in found["phases"].items() if phase in PHASE_ORDER}


def relative_plan(model: str, params: Mapping[str, Any]) -> dict[str, float]:
    """Relative phase sizes of a run with ``params`` (when no preset was measured for it)."""
    resolved = {**get_spec(model).default_params, **params}
    phases = phases_of(bool(resolved.get("refit_full_train")))
    return {phase: DEFAULT_RELATIVE_PLAN[phase] for phase in phases}


def work_units(model: str, params: Mapping[str, Any], n_images: int) -> float:
    """A number proportional to a run's training time: images seen, times epochs, trees or solver steps."""
    p = {**get_spec(model).default_params, **params}
    n_fit = n_images * (1.0 - float(p.get("validation_fraction", 0.0)))
    refit = 1.0 + 1.0 / (1.0 - float(p.get("validation_fraction", 0.0))) if p.get("refit_full_train") else 1.0
    if get_spec(model).family == "keras":
        members = [int(e) for e in p.get("ensemble_epochs") or []]
        return n_fit * (sum(members) if len(members) > 1 else int(p["epochs"]))
    flips = 2.0 if p.get("flip_augment") else 1.0
    if model == "random_forest":
        return n_fit * flips * int(p["n_estimators"]) * refit
    return n_fit * flips * int(p.get("max_iter", 100)) * refit


def estimate_seconds(
    model: str,
    params: Mapping[str, Any],
    limit: int | None,
    n_train: int,
    record: Mapping[str, Any] | None = None,
    factor: float = 1.0,
) -> tuple[float, bool] | None:
    """Expected seconds of a run here, and whether they were measured for exactly these settings.

    A preset's own settings get its measured time; other settings scale the lesson preset's training
    time by :func:`work_units` (a rough estimate) and add its evaluation time. None if nothing was measured.
    """
    record = read_measured() if record is None else record
    for name in PRESET_NAMES:
        preset = PRESETS[model][name]
        found = measured(model, name, record)
        same = {**get_spec(model).default_params, **params} == preset.resolved_params() and limit == preset.limit
        if found and same:
            return float(found["seconds"]) * factor, True
    lesson, found = PRESETS[model]["lesson"], measured(model, "lesson", record)
    if not found or not found.get("phases"):
        return None
    phases = found["phases"]
    training = sum(float(v) for k, v in phases.items() if k not in ("evaluate", "load"))
    base = work_units(model, lesson.params, lesson.limit or n_train)
    work = work_units(model, params, limit or n_train)
    fixed = float(phases.get("evaluate", 0.0)) + float(phases.get("load", 0.0))
    seconds = training * work / max(base, 1e-9) + fixed
    return seconds * factor, False
