"""Lesson presets on this machine: each one's wall time (dataset loading and test evaluation included), its
test accuracy against the seed notebook's, and how far the time-left estimate strayed from the truth.

``make bench-presets`` trains every model's lesson preset once, one after another, and writes
``artifacts/presets.json``, which the Training page and ``make bench`` read. It also trains the Best CNN's
lesson preset in float32, beside the adopted mixed bfloat16: the shortened schedule on which the two
precisions are compared. Speed targets live here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fer_core.data import load_dataset
from fer_core.eta import PhaseEta
from fer_core.presets import LESSON_MINUTES, MEASURED_FILE, PRESETS, SEED_NOTEBOOK, relative_plan, speed_probe
from fer_core.progress import ProgressEvent
from fer_core.training import train_model


class Recorder:
    """Every progress event with the time it came, for replaying through the time-left estimate."""

    def __init__(self) -> None:
        self.events: list[tuple[float, ProgressEvent]] = []

    def __call__(self, event: ProgressEvent) -> None:
        self.events.append((time.perf_counter(), event))


def replay_eta(events: list[tuple[float, ProgressEvent]], plan: dict[str, float], absolute: bool, end: float) -> float:
    """The largest relative error of (elapsed + time left) against the true total, from 10 % of the run on."""
    start = next((t for t, e in events if e.kind == "phase"), None)
    if start is None:
        return float("nan")
    now = [start]
    eta = PhaseEta(plan, absolute=absolute, clock=lambda: now[0])
    total = end - start
    worst = 0.0
    for t, event in events:
        now[0] = t
        if event.kind == "phase":
            eta.start_phase(event.phase)
        elif event.kind in ("batch", "epoch", "step"):
            eta.update(event.fraction, epoch_end=event.kind == "epoch")
        if t - start < 0.1 * total or eta.phase is None:
            continue
        left = eta.remaining()
        if left is not None:
            worst = max(worst, abs((t - start + left) / total - 1.0))
    return worst


def phase_seconds(events: list[tuple[float, ProgressEvent]], end: float) -> dict[str, float]:
    """Seconds spent in each phase."""
    marks = [(t, e.phase) for t, e in events if e.kind == "phase"]
    return {phase: round(b - a, 1) for (a, phase), (b, _) in zip(marks, [*marks[1:], (end, "")])}


def run_preset(
    model: str, params: dict[str, Any], limit: int | None, dataset: Any, load_seconds: float
) -> dict[str, Any]:
    """Train one preset (into a temporary folder) and measure it."""
    recorder = Recorder()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        result = train_model(model, dataset, params=params, limit=limit, out_dir=Path(tmp), callback=recorder)
        end = time.perf_counter()
    card = result.card
    phases = {"load": round(load_seconds, 1), **phase_seconds(recorder.events, end)}
    seconds = load_seconds + (end - started)
    return {
        "seconds": round(seconds, 1),
        "phases": phases,
        "accuracy": card.test_accuracy,
        "tta": card.headline_tta,
        "ferplus_accuracy": (card.ferplus_test or {}).get("accuracy"),
        "n_train": card.n_train,
        "epochs": card.epochs_run,
        "eta_error_relative_plan": round(replay_eta(recorder.events, relative_plan(model, params), False, end), 3),
        "eta_error_measured_plan": round(
            replay_eta(recorder.events, {k: v for k, v in phases.items() if k != "load"}, True, end), 3
        ),
        "within_time": seconds <= LESSON_MINUTES * 60,
        "seed_notebook": SEED_NOTEBOOK.get(model),
        "beats_seed": None if model not in SEED_NOTEBOOK else bool(card.test_accuracy > SEED_NOTEBOOK[model]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--models", default=",".join(PRESETS), help="comma-separated models (default: all)")
    parser.add_argument("--no-float32", action="store_true", help="skip the Best CNN's float32 comparison run")
    args = parser.parse_args(argv)
    record: dict[str, Any] = json.loads(MEASURED_FILE.read_text()) if MEASURED_FILE.is_file() else {}
    record.setdefault("presets", {})
    record.update(
        probe_seconds=round(speed_probe(), 4),
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        date=time.strftime("%Y-%m-%d"),
    )
    started = time.perf_counter()
    dataset = load_dataset(args.data)
    load_seconds = time.perf_counter() - started
    record["load_seconds"] = round(load_seconds, 1)
    for model in args.models.split(","):
        preset = PRESETS[model]["lesson"]
        print(f"[presets] {model} lesson ...", file=sys.stderr, flush=True)
        found = run_preset(model, dict(preset.params), preset.limit, dataset, load_seconds)
        record["presets"].setdefault(model, {})["lesson"] = found
        print(f"[presets] {model}: {json.dumps(found)}", file=sys.stderr, flush=True)
        MEASURED_FILE.write_text(json.dumps(record, indent=1) + "\n")  # after each: nothing lost if stopped
    if not args.no_float32 and "cnn" in args.models.split(","):
        preset = PRESETS["cnn"]["lesson"]
        print("[presets] cnn lesson in float32 ...", file=sys.stderr, flush=True)
        found = run_preset("cnn", {**preset.params, "precision": "float32"}, preset.limit, dataset, load_seconds)
        record["cnn_lesson_float32"] = found
        MEASURED_FILE.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
