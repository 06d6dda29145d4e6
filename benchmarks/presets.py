"""Lesson presets on this machine: each one's wall time (dataset loading and test evaluation included), its
test accuracy against the seed notebook's, and how far the time-left estimate strayed from the truth.

``make bench-presets`` trains every model's lesson preset once, one after another, and writes
``artifacts/presets.json``, which the Training page and ``make bench`` read. It also trains the Best CNN's
lesson preset in float32, beside the adopted mixed bfloat16: the shortened schedule on which the two
precisions are compared. Speed targets live here, never in tests.
"""

from __future__ import annotations

import argparse
import dataclasses
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

EVENTS_DIR = Path(__file__).parents[1] / "logs" / "preset-events"


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


def markdown_table(record: dict[str, Any]) -> str:
    """The README's "training on your machine" table: model, preset, minutes, accuracy, seed, targets."""
    from fer_core.models import get_spec

    lines = [
        "| model | lesson preset | minutes | test accuracy | seed notebook | ≤ 5 min | beats seed | time left off by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for model, by_name in record.get("presets", {}).items():
        found = by_name.get("lesson")
        if not found:
            continue
        seed = found.get("seed_notebook")
        beats = "—" if found.get("beats_seed") is None else ("yes" if found["beats_seed"] else "**no**")
        lines.append(
            f"| {get_spec(model).display_name} | {PRESETS[model]['lesson'].summary} | {found['seconds'] / 60:.1f} | "
            f"{found['accuracy']:.3f}{' (TTA)' if found.get('tta') else ''} | {seed if seed is not None else '—'} | "
            f"{'yes' if found['within_time'] else '**no**'} | {beats} | ≤ {found['eta_error_measured_plan']:.0%} |"
        )
    return "\n".join(lines)


def replay_saved() -> int:
    """Recompute every preset's time-left errors from its kept events and update the record."""
    record = json.loads(MEASURED_FILE.read_text())
    for model, by_name in record.get("presets", {}).items():
        found = by_name.get("lesson")
        path = EVENTS_DIR / f"{model}-{PRESETS[model]['lesson'].params.get('precision', 'default')}.json"
        if not found or not path.is_file():
            continue
        kept = json.loads(path.read_text())
        events = [(t, ProgressEvent(**e)) for t, e in kept["events"]]
        plan = {k: v for k, v in found["phases"].items() if k != "load"}
        found["eta_error_measured_plan"] = round(replay_eta(events, plan, True, kept["end"]), 3)
        params = PRESETS[model]["lesson"].params
        found["eta_error_relative_plan"] = round(
            replay_eta(events, relative_plan(model, params), False, kept["end"]), 3
        )
        print(model, found["eta_error_measured_plan"], found["eta_error_relative_plan"])
    MEASURED_FILE.write_text(json.dumps(record, indent=1) + "\n")
    return 0


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
    EVENTS_DIR.mkdir(parents=True, exist_ok=True)  # kept (git-ignored) to replay the time-left logic later
    (EVENTS_DIR / f"{model}-{params.get('precision', 'default')}.json").write_text(
        json.dumps({"end": end, "events": [[t, dataclasses.asdict(e)] for t, e in recorder.events]})
    )
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
    parser.add_argument(
        "--record-recipe",
        nargs=2,
        metavar=("CARD", "WALL_SECONDS"),
        help="only record the CPU recipe's run from its card.json and wall time",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="only recompute the time-left errors from the events the last run kept (logs/)",
    )
    parser.add_argument("--table", action="store_true", help="only print the README's table from the record")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(MEASURED_FILE.read_text())))
        return 0
    if args.replay:
        return replay_saved()
    if args.record_recipe:
        print(json.dumps(record_recipe(Path(args.record_recipe[0]), float(args.record_recipe[1])), indent=1))
        return 0
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
        record["cnn_short_float32"] = found  # beside the lesson run in bfloat16, kept as "cnn_short_bfloat16"
        record["cnn_short_bfloat16"] = record["presets"]["cnn"]["lesson"]
        MEASURED_FILE.write_text(json.dumps(record, indent=1) + "\n")
    print(json.dumps(record, indent=1))
    return 0


#: The CPU recipe's measured run (``make train``'s Best CNN on 2 cores), written by
#: ``python -m benchmarks.presets --record-recipe CARD SECONDS``.
RECIPE_FILE = Path(__file__).with_name("cpu_recipe.json")


def report_rows(record: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """``make bench``'s rows about training presets, as dicts of :class:`benchmarks.perf.Row`'s fields."""
    from fer_core.models import get_spec
    from fer_core.presets import estimate_seconds

    record = json.loads(MEASURED_FILE.read_text()) if record is None and MEASURED_FILE.is_file() else (record or {})
    when = f"measured by make bench-presets on {record.get('date', '?')}"
    rows: list[dict[str, Any]] = []
    for model in SEED_NOTEBOOK:
        found = (record.get("presets") or {}).get(model, {}).get("lesson")
        name = get_spec(model).display_name
        if not found:
            rows.append({"figure": f"lesson preset: {name}", "how": "not measured yet (make bench-presets)"})
            continue
        minutes = found["seconds"] / 60
        ok = bool(found["within_time"] and found["beats_seed"])
        rows.append({
            "figure": f"lesson preset: {name}",
            "how": f"{PRESETS[model]['lesson'].summary}; wall time incl. loading and test evaluation, {when}",
            "value": round(minutes, 2), "unit": "min",  # the seed's accuracy is in the target (not minutes)
            "target": f"<= {LESSON_MINUTES} min and accuracy > seed notebook's {SEED_NOTEBOOK[model]:.3f}",
            "met": ok, "runs": 1,
            "note": f"test accuracy {found['accuracy']:.4f}{' (flip TTA)' if found.get('tta') else ''}; time-left "
            f"estimate off by at most {found['eta_error_measured_plan']:.0%} with the measured plan, "
            f"{found['eta_error_relative_plan']:.0%} with no plan",
        })  # fmt: skip
    errors = [
        f["eta_error_measured_plan"]
        for m in SEED_NOTEBOOK
        if (f := (record.get("presets") or {}).get(m, {}).get("lesson"))
    ]
    if errors:
        rows.append({
            "figure": "time left, every phase", "how": "largest error of elapsed + estimate vs the real total, from "
            "10 % of each lesson run on, with the phases' measured plan", "value": round(max(errors), 3),
            "unit": "fraction", "target": "within +-25 %", "met": max(errors) <= 0.25, "runs": len(errors),
        })  # fmt: skip
    f32, bf16 = record.get("cnn_short_float32"), record.get("cnn_short_bfloat16")
    if f32 and bf16:
        rows.append({
            "figure": "shortened schedule: mixed bfloat16 (adopted) vs float32",
            "how": "the Best CNN's network, 4 epochs (1 warm-up + cosine) on 20,000 images, trained both ways one "
            "after the other: test accuracy (flip TTA) and wall time",
            "value": bf16["accuracy"], "unit": "accuracy", "reference": f32["accuracy"],
            "ratio": round(f32["seconds"] / bf16["seconds"], 2), "target": "accuracy within 1 point of float32",
            "met": bf16["accuracy"] >= f32["accuracy"] - 0.01, "runs": 1,
            "note": f"ratio = float32 time / bfloat16 time ({f32['seconds']:.0f} s vs {bf16['seconds']:.0f} s)",
        })  # fmt: skip
    recipe = json.loads(RECIPE_FILE.read_text()) if RECIPE_FILE.is_file() else None
    if recipe:
        rows.append({
            "figure": "Best CNN CPU recipe (make train), full",
            "how": f"one network, {recipe['epochs']} epochs, mixed bfloat16, wall time incl. loading and evaluation, "
            f"measured {recipe['date']} on {recipe['machine']}",
            "value": round(recipe["wall_seconds"] / 60, 1), "unit": "min",  # the accuracy is in the note
            "target": "<= 90 min and >= 0.69 flip-TTA test accuracy",
            "met": recipe["wall_seconds"] <= 90 * 60 and recipe["test_accuracy_tta"] >= 0.69, "runs": 1,
            "note": f"test accuracy {recipe['test_accuracy_tta']:.4f} (flip TTA)",
        })  # fmt: skip
    from fer_core.artifacts import list_cards
    from fer_core.views import training_device

    installed = list_cards().evaluated
    for model in REGISTRY_ORDER:
        if model == "cnn" and recipe:
            continue
        card = installed.get(model)
        estimate = estimate_seconds(model, {}, None, 28709, record)
        if card is not None and card.training_seconds and training_device(card).startswith("CPU"):
            how = f"measured: the installed model's own training on this kind of CPU ({card.created[:10]}, its card)"
            value = card.training_seconds / 60
        elif estimate is not None:
            how = "extrapolated from its lesson preset's measured run by images x epochs (or trees, solver steps)"
            value = estimate[0] / 60
        else:
            continue
        rows.append({
            "figure": f"full recipe: {get_spec(model).display_name}", "how": how,
            "value": round(value, 1), "unit": "min", "target": "report", "runs": 1,
        })  # fmt: skip
    return rows


REGISTRY_ORDER = ("logreg", "random_forest", "mlp", "lstm", "cnn_basic", "cnn", "cnn_ferplus")


def record_recipe(card_path: Path, wall_seconds: float) -> dict[str, Any]:
    """Write :data:`RECIPE_FILE` from the CPU recipe run's model card and its wall time."""
    card = json.loads(Path(card_path).read_text())
    recipe = {
        "date": card["created"][:10],
        "machine": f"{card['machine']['processor']}, {card['machine']['compute']}",
        "epochs": card["epochs_run"],
        "precision": card["params"].get("precision"),
        "wall_seconds": round(wall_seconds),
        "training_seconds": card["training_seconds"],
        "test_accuracy_tta": (card.get("test_metrics_tta") or {}).get("accuracy"),
        "test_accuracy": (card.get("test_metrics") or {}).get("accuracy"),
        "ferplus_accuracy": (card.get("ferplus_test") or {}).get("accuracy"),
        "validation_accuracy": card.get("validation_accuracy"),
    }
    RECIPE_FILE.write_text(json.dumps(recipe, indent=1) + "\n")
    return recipe


if __name__ == "__main__":
    raise SystemExit(main())
