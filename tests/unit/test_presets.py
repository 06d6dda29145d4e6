"""Training presets, the time-left estimate over every phase (with an injected clock), checkpoints and queues."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from support.data import write_image_folder

from fer_core import views
from fer_core.errors import FerError
from fer_core.eta import PhaseEta, phases_of
from fer_core.jobs import JobManager, _JobRecord, queue_folders
from fer_core.models import REGISTRY, create_model, get_spec
from fer_core.presets import (
    PRESET_NAMES,
    PRESETS,
    SEED_NOTEBOOK,
    estimate_seconds,
    expected_phases,
    get_preset,
    machine_factor,
    work_units,
)
from fer_core.progress import ProgressEvent, StopFlag


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def simulate_fit(eta: PhaseEta, clock: Clock, epochs: int, batches: int, batch_s: float, validation_s: float,
                 first_epoch_extra: float = 0.0) -> list[tuple[float, float | None]]:  # fmt: skip
    """Run a fit phase through ``eta``; return (time, remaining) after every event."""
    seen = []
    for epoch in range(epochs):
        if epoch == 0:
            clock.now += first_epoch_extra  # graph building
        for batch in range(batches):
            clock.now += batch_s
            eta.update((epoch + (batch + 1) / batches) / epochs)
            seen.append((clock.now, eta.remaining()))
        for _ in range(4):  # the validation check: time passes, the fraction does not move
            clock.now += validation_s / 4
            seen.append((clock.now, eta.remaining()))
        eta.update((epoch + 1) / epochs, epoch_end=True)
        seen.append((clock.now, eta.remaining()))
    return seen


class TestPhaseEta:
    def test_every_phase_counts_and_stays_within_a_quarter(self) -> None:
        clock = Clock()
        # Planned on a faster machine: this one is 30 % slower in every phase.
        plan = {"fit": 10 * (20 * 0.5 + 2.0), "evaluate": 30.0}
        eta = PhaseEta(plan, clock=clock)
        eta.start_phase("fit")
        start = clock.now
        seen = simulate_fit(eta, clock, epochs=10, batches=20, batch_s=0.65, validation_s=2.6, first_epoch_extra=3)
        eta.start_phase("evaluate")
        for step in range(4):
            clock.now += 39.0 / 4
            eta.update((step + 1) / 4)
            seen.append((clock.now, eta.remaining()))
        total = clock.now - start
        for t, left in seen:
            assert left is not None
            if t - start >= 0.1 * total:
                assert abs((t - start + left) / total - 1) <= 0.25, (t - start, left, total)
        assert seen[-1][1] == pytest.approx(0.0, abs=1e-6)

    def test_no_climb_during_the_validation_check(self) -> None:
        clock = Clock()
        eta = PhaseEta({"fit": 100.0, "evaluate": 10.0}, clock=clock)
        eta.start_phase("fit")
        simulate_fit(eta, clock, epochs=3, batches=10, batch_s=1.0, validation_s=4.0)
        # Mid-epoch 4, then a long validation pause at its end: the estimate may only go down meanwhile.
        for batch in range(10):
            clock.now += 1.0
            eta.update((3 + (batch + 1) / 10) / 10)
        before = eta.remaining()
        lefts = []
        for _ in range(4):
            clock.now += 1.0
            lefts.append(eta.remaining())
        assert all(b <= a + 1e-9 for a, b in zip([before, *lefts], lefts))

    def test_relative_plan_waits_for_a_pace_then_scales_later_phases(self) -> None:
        clock = Clock()
        eta = PhaseEta({"fit": 1.0, "refit": 1.25, "evaluate": 0.1}, absolute=False, clock=clock)
        assert eta.remaining() is None  # no phase yet
        eta.start_phase("fit")
        assert eta.remaining() is None  # nothing tells the pace yet
        clock.now += 40.0
        eta.update(0.5)
        # Fit will take 80 s in all: 40 s left, then a refit of 1.25 x 80 s and an evaluation of 8 s.
        assert eta.remaining() == pytest.approx(40.0 + 100.0 + 8.0)
        clock.now += 40.0
        eta.update(1.0)
        eta.start_phase("refit")
        clock.now += 50.0
        eta.update(0.5)
        assert eta.remaining() == pytest.approx(50.0 + 0.1 * (80.0 + 100.0) / 2.25)

    def test_phases_of(self) -> None:
        assert phases_of(refit=True) == ("fit", "refit", "evaluate")
        assert phases_of(refit=False) == ("fit", "evaluate")
        assert phases_of(refit=False, evaluate=False) == ("fit",)


def test_job_record_labels_each_phase_and_restarts_its_bar() -> None:
    clock = Clock()
    record = _JobRecord("j", "logreg", "Logistic regression", "sklearn", "T", {}, None, Path("/tmp/x"),
                        eta=PhaseEta({"fit": 10.0, "refit": 12.0, "evaluate": 2.0}, clock=clock))  # fmt: skip
    record.status = "training"
    record.apply(ProgressEvent("phase", "logreg", message="Choosing the settings on validation", phase="fit"))
    for step in range(1, 11):
        clock.now += 1.0
        record.apply(ProgressEvent("step", "logreg", step=step, steps=10))
    record.apply(ProgressEvent("phase", "logreg", message="Refitting on all training images", phase="refit"))
    state = record.snapshot()
    assert (state.phase, state.step, state.steps) == ("refit", 0, 0)
    assert state.phase_label == "Refitting on all training images"
    assert state.eta_seconds == pytest.approx(14.0)  # the refit and evaluation still to come, at the planned pace
    assert state.phases == ("fit", "refit", "evaluate")
    assert "step 2 of 3: Refitting on all training images" in views.overall_progress_text(state)
    assert "about 14 s left in all" in views.overall_progress_text(state)
    record.apply(ProgressEvent("phase", "logreg", message="Evaluating on the test split", phase="evaluate"))
    assert record.snapshot().status == "evaluating"


class TestPresets:
    def test_every_model_has_both_presets_and_the_recipes_accept_them(self) -> None:
        assert set(PRESETS) == set(REGISTRY)
        for model, presets in PRESETS.items():
            assert set(presets) == set(PRESET_NAMES)
            for preset in presets.values():
                get_spec(model).check_params(preset.params)  # an unknown key or a bad value raises
                create_model(model, **preset.params)
                assert preset.summary
            assert presets["full"].params == {} and presets["full"].limit is None
        assert set(SEED_NOTEBOOK) == {"logreg", "random_forest", "mlp", "lstm", "cnn_basic", "cnn"}

    def test_lesson_presets_do_less_work_than_the_full_recipes(self) -> None:
        for model, presets in PRESETS.items():
            lesson, full = presets["lesson"], presets["full"]
            assert work_units(model, lesson.params, lesson.limit or 28709) < work_units(model, full.params, 28709)

    def test_unknown_preset(self) -> None:
        with pytest.raises(FerError, match="lesson, full"):
            get_preset("cnn", "quick")

    def test_estimates_from_a_measured_record(self) -> None:
        record = {
            "probe_seconds": 0.2,
            "presets": {"mlp": {"lesson": {"seconds": 100.0, "accuracy": 0.5,
                                           "phases": {"load": 10.0, "fit": 80.0, "evaluate": 10.0}}}},
        }  # fmt: skip
        lesson = PRESETS["mlp"]["lesson"]
        assert estimate_seconds("mlp", lesson.params, lesson.limit, 28709, record, factor=2.0) == (200.0, True)
        doubled = {**lesson.params, "epochs": 2 * lesson.params["epochs"]}
        seconds, exact = estimate_seconds("mlp", doubled, None, 28709, record)
        assert not exact and seconds == pytest.approx(2 * 80.0 + 20.0)
        assert estimate_seconds("lstm", {}, None, 28709, record) is None  # nothing measured for it
        assert expected_phases("mlp", "lesson", record, factor=1.5) == {"fit": 120.0, "evaluate": 15.0}
        assert machine_factor(record, probe=0.3) == pytest.approx(1.5)
        assert machine_factor({}, probe=0.3) == 1.0

    def test_the_expectation_sentence(self) -> None:
        found = {"seconds": 230.0, "accuracy": 0.583, "tta": True}
        text = views.preset_expectation("Best CNN", "lesson", (250.0, True), found, 0.549)
        assert "about 4 min 10 s" in text and "58.3%" in text and "above the seed notebook's 54.9%" in text
        below = views.preset_expectation("Basic CNN", "lesson", (250.0, True), {**found, "accuracy": 0.5}, 0.549)
        assert "below the seed notebook's" in below
        assert "not known yet" in views.preset_expectation("MLP", "custom", None, None, None)
        assert "rough estimate" in views.preset_expectation("MLP", "custom", (60.0, False), None, None)

    def test_shipped_measurements_cover_every_lesson_preset(self) -> None:
        record = json.loads((Path(__file__).parents[2] / "artifacts" / "presets.json").read_text())
        for model in SEED_NOTEBOOK:
            found = record["presets"][model]["lesson"]
            assert found["seconds"] > 0 and 0 < found["accuracy"] < 1
            assert set(found["phases"]) >= {"load", "fit", "evaluate"}


def test_training_device_from_the_card() -> None:
    from fer_core.artifacts import list_cards

    shipped = list_cards(Path(__file__).parents[2] / "artifacts" / "models").evaluated
    assert views.training_device(shipped["logreg"]) == "CPU (2 cores)"
    assert views.training_device(shipped["cnn"]).startswith("GPU (")  # trained on a GPU, as its card says
    note = views.training_time_note(list_cards(Path(__file__).parents[2] / "artifacts" / "models"))
    assert note is not None and shipped["cnn"].title in note and shipped["logreg"].title not in note


def test_checkpoint_resumes_after_the_last_epoch(small_faces, tmp_path: Path) -> None:  # noqa: ANN001
    x, y, x_val, y_val = small_faces
    params = {"widths": [4, 8], "convs_per_stage": 1, "epochs": 3, "batch_size": 32, "precision": "mixed_bfloat16"}
    first = create_model("cnn", **params)
    first.checkpoint_dir_ = tmp_path
    stop = StopFlag()
    first.fit(x, y, x_val, y_val, stop=stop, callback=lambda e: stop.set() if e.kind == "epoch" else None)
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 1  # interrupted during epoch 2
    messages: list[str] = []
    second = create_model("cnn", **params)
    second.checkpoint_dir_ = tmp_path
    second.fit(x, y, x_val, y_val, callback=lambda e: messages.append(e.message) if e.kind == "message" else None)
    assert "Resuming after epoch 1" in messages
    assert len(second.history_["val_accuracy"]) == 3  # the first epoch's numbers came from the checkpoint
    assert second.history_["val_accuracy"][0] == first.history_["val_accuracy"][0]
    assert json.loads((tmp_path / "state.json").read_text())["epoch"] == 3
    proba = second.predict_proba(x_val)
    assert proba.dtype == np.float32 and np.allclose(proba.sum(axis=1), 1, atol=1e-4)
    # Other settings must not resume someone else's schedule.
    other = create_model("cnn", **{**params, "epochs": 5})
    other.checkpoint_dir_ = tmp_path
    with pytest.raises(FerError, match="other settings"):
        other.fit(x, y, x_val, y_val)


def test_an_ensemble_reports_one_progress_over_its_networks(small_faces) -> None:  # noqa: ANN001
    x, y, x_val, y_val = small_faces
    model = create_model("cnn", widths=[4], convs_per_stage=1, ensemble_epochs=[2, 1], batch_size=64)
    events: list[ProgressEvent] = []
    model.fit(x, y, x_val, y_val, callback=events.append)
    epochs = [(e.epoch, e.epochs) for e in events if e.kind == "epoch"]
    assert epochs == [(1, 3), (2, 3), (3, 3)]  # the second network's epoch is the third of three
    fractions = [e.fraction for e in events if e.kind in ("batch", "epoch")]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_queue_trains_one_after_another_into_one_folder(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write_image_folder(data, {"train": 10, "test": 3})
    manager = JobManager(tmp_path / "runs")
    quick = {"pca_components": 5, "max_iter": 10}
    requests = [
        {"name": "logreg", "params": quick, "data_dir": data, "preset": "lesson", "plan": {"fit": 1.0}},
        {"name": "random_forest", "params": {"n_estimators": 3}, "data_dir": data, "preset": "lesson"},
    ]
    folder = manager.start_queue(requests)
    assert manager.queue_state() == (folder, ["random_forest"])
    assert manager.snapshot().preset == "lesson"
    deadline = time.time() + 240
    while manager.snapshot().model != "random_forest" or manager.snapshot().active:
        assert time.time() < deadline, manager.snapshot()
        time.sleep(0.2)
    assert manager.snapshot().status == "done", manager.snapshot().error
    assert {p.parent.name for p in folder.glob("*/card.json")} == {"logreg", "random_forest"}
    assert queue_folders(tmp_path / "runs") == [folder]
    assert manager.queue_state()[1] == []


def test_nothing_else_starts_while_a_queue_is_between_two_runs(tmp_path: Path) -> None:
    from fer_core.jobs import JobBusyError

    manager = JobManager(tmp_path / "runs")
    manager._queue = [{"name": "mlp", "params": {}}]  # the previous run has ended, the next not started yet
    with pytest.raises(JobBusyError, match="one after another .next: Dense MLP"):
        manager.start("logreg")
    with pytest.raises(JobBusyError):
        manager.start_queue([{"name": "logreg"}])
