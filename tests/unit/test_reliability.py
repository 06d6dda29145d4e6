"""Faults and security: training jobs that stop, crash or are killed; uploads that never touch the disk.

The training jobs run in real spawned processes on a small synthetic image folder; the installed
models folder is compared byte for byte before and after each fault.
"""

from __future__ import annotations

import builtins
import io
import logging
import multiprocessing as mp
import os
import re
import signal
import tempfile
import threading
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from support.data import REPO, tree_bytes, write_image_folder
from support.photos import face_frame

from fer_core.artifacts import load_model
from fer_core.errors import ModelNotFoundError
from fer_core.jobs import JobBusyError, JobManager, JobState

QUICK_LOGREG = {"pca_components": 5, "max_iter": 10}
#: A Keras run long enough to be interrupted (hundreds of tiny epochs on a tiny folder).
LONG_MLP = {"hidden_units": [16], "epochs": 500, "patience": 0, "batch_size": 8}


@pytest.fixture(scope="module")
def data_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("jobs-data")
    write_image_folder(root, {"train": 10, "test": 3})
    return root


@pytest.fixture
def installed(zoo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An installed models folder (a copy of the test zoo) that jobs must never touch on their own."""
    models = tmp_path / "installed"
    models.mkdir()
    for name in ("logreg", "mlp"):
        (models / name).mkdir()
        for file in (zoo / name).iterdir():
            (models / name / file.name).write_bytes(file.read_bytes())
    monkeypatch.setenv("FER_MODELS_DIR", str(models))  # inherited by the spawned training process
    yield models


def wait_for(manager: JobManager, condition: Any, timeout: float = 120) -> JobState:
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = manager.snapshot()
        if state is not None and condition(state):
            return state
        time.sleep(0.2)
    raise AssertionError(f"condition not reached in {timeout} s; last state: {manager.snapshot()}")


def finish(manager: JobManager, timeout: float = 180) -> JobState:
    assert manager.wait(timeout), "the job did not end in time"
    state = manager.snapshot()
    assert state is not None and not state.active
    return state


def assert_can_train_again(manager: JobManager, data_folder: Path) -> None:
    manager.start("logreg", params=QUICK_LOGREG, data_dir=data_folder)
    state = finish(manager)
    assert state.status == "done", state.error
    assert state.artifact_dir is not None and (state.artifact_dir / "card.json").is_file()


class TestTrainingFaults:
    def test_an_exception_inside_training(self, installed: Path, data_folder: Path, tmp_path: Path) -> None:
        before = tree_bytes(installed)
        manager = JobManager(tmp_path / "runs")
        manager.start("logreg", params={"C": -1.0}, data_dir=data_folder)  # scikit-learn refuses this
        state = finish(manager)
        assert state.status == "failed"
        assert state.error and "LogisticRegression" in state.error and "Traceback" not in state.error
        assert tree_bytes(installed) == before
        assert_can_train_again(manager, data_folder)
        assert tree_bytes(installed) == before  # a finished run waits for "Use this model"

    def test_killing_the_worker_process(self, installed: Path, data_folder: Path, tmp_path: Path) -> None:
        before = tree_bytes(installed)
        manager = JobManager(tmp_path / "runs")
        manager.start("mlp", params=LONG_MLP, data_dir=data_folder)
        wait_for(manager, lambda s: s.epoch >= 2)
        workers = [p for p in mp.active_children() if p.name == "fer-train-mlp"]
        assert len(workers) == 1
        os.kill(workers[0].pid, signal.SIGKILL)
        state = finish(manager)
        assert state.status == "failed"
        assert "ended unexpectedly" in state.error and "-9" in state.error
        assert tree_bytes(installed) == before
        assert_can_train_again(manager, data_folder)

    def test_stop_mid_epoch_keeps_the_installed_model(self, installed: Path, data_folder: Path, tmp_path: Path) -> None:
        before = tree_bytes(installed)
        manager = JobManager(tmp_path / "runs")
        manager.start("mlp", params=LONG_MLP, data_dir=data_folder)
        wait_for(manager, lambda s: s.epoch >= 1 and 0 < s.batch < s.batches)
        manager.stop()
        state = finish(manager)
        assert state.status == "done", state.error
        assert state.card.stopped_early is True
        assert len(state.history["val_accuracy"]) < LONG_MLP["epochs"]
        assert tree_bytes(installed) == before
        manager.install(installed)  # only now does the installed model change
        assert tree_bytes(installed) != before

    def test_only_the_starting_session_can_stop_or_install_and_versions_are_kept(
        self, installed: Path, data_folder: Path, tmp_path: Path
    ) -> None:
        from fer_core.artifacts import list_versions, read_card, restore_version
        from fer_core.jobs import NotYourJobError

        before = read_card(installed / "logreg")
        manager = JobManager(tmp_path / "runs")
        manager.start("logreg", params=QUICK_LOGREG, data_dir=data_folder, session="teacher-tab", owner="Ms K")
        with pytest.raises(NotYourJobError, match="Only Ms K, who started this run"):
            manager.stop(session="student-tab")
        state = finish(manager)
        assert state.status == "done", state.error
        with pytest.raises(NotYourJobError, match="can install it"):
            manager.install(installed, session="student-tab")
        assert read_card(installed / "logreg").created == before.created  # nothing changed
        manager.install(installed, session="teacher-tab")
        assert read_card(installed / "logreg").created == state.card.created
        versions = list_versions("logreg", installed)
        assert [card.created for _, card in versions] == [before.created]  # the replaced model is kept
        restore_version("logreg", versions[0][0], installed)
        assert read_card(installed / "logreg").created == before.created
        assert [card.created for _, card in list_versions("logreg", installed)] == [state.card.created]

    def test_two_sessions_press_start_together(self, data_folder: Path, tmp_path: Path) -> None:
        manager = JobManager(tmp_path / "runs")
        barrier = threading.Barrier(2)
        outcomes: list[Any] = []

        def press_start(owner: str) -> None:
            barrier.wait()
            try:
                outcomes.append(manager.start("logreg", params=QUICK_LOGREG, owner=owner, data_dir=data_folder))
            except JobBusyError as exc:
                outcomes.append(exc)

        threads = [threading.Thread(target=press_start, args=(owner,)) for owner in ("Ada", "Grace")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        started = [o for o in outcomes if isinstance(o, JobState)]
        refused = [o for o in outcomes if isinstance(o, JobBusyError)]
        assert len(started) == 1 and len(refused) == 1
        assert f"{started[0].owner} is training Logistic regression" in str(refused[0])
        assert finish(manager).status == "done"


# --------------------------------------------------------------------------------------------
# Uploads and frames never reach the disk or the logs
# --------------------------------------------------------------------------------------------

MARKER = "PRIVATE-PHOTO-7f3a9c"


def marked_png() -> bytes:
    """The astronaut frame as a PNG carrying a text chunk with MARKER (to look for it in logs)."""
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARKER)
    buffer = io.BytesIO()
    Image.fromarray(face_frame()).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


class WriteSpy:
    """Records every attempt to open a file for writing (Python's open, os.open, PIL and OpenCV saves)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.writes: list[str] = []
        real_open, real_os_open = builtins.open, os.open
        real_save = Image.Image.save

        def spy_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            if any(flag in mode for flag in "wax+"):
                self.writes.append(f"open({file!r}, {mode!r})")
            return real_open(file, mode, *args, **kwargs)

        def spy_os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
            if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                self.writes.append(f"os.open({path!r})")
            return real_os_open(path, flags, *args, **kwargs)

        def spy_save(image: Image.Image, fp: Any, *args: Any, **kwargs: Any) -> Any:
            if isinstance(fp, str | os.PathLike):
                self.writes.append(f"Image.save({fp!r})")
            return real_save(image, fp, *args, **kwargs)

        import cv2

        monkeypatch.setattr(builtins, "open", spy_open)
        monkeypatch.setattr(io, "open", spy_open)
        monkeypatch.setattr(os, "open", spy_os_open)
        monkeypatch.setattr(Image.Image, "save", spy_save)
        monkeypatch.setattr(cv2, "imwrite", lambda path, *a, **k: self.writes.append(f"cv2.imwrite({path!r})"))


def temp_listing() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).iterdir()}


def test_an_uploaded_photo_is_never_written_or_logged(
    zoo: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("FER_MODELS_DIR", str(zoo))
    app = AppTest.from_file(str(REPO / "pages" / "4_Emotion_detector.py"), default_timeout=180).run()
    assert not app.exception
    data = marked_png()
    assert MARKER.encode() in data
    temp_before = temp_listing()
    caplog.set_level(logging.DEBUG)
    spy = WriteSpy(monkeypatch)
    app.file_uploader[0].set_value(("private.png", data, "image/png")).run()
    monkeypatch.undo()
    assert not app.exception, [e.message for e in app.exception]
    headings = [str(m.value) for m in app.markdown]
    assert any(h.startswith(("**Face 1:", "Face 1: **not sure**")) for h in headings), "the photo was not analysed"
    assert spy.writes == []
    assert temp_listing() - temp_before == set()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert MARKER not in logged and "private.png" not in logged


def test_live_frames_are_never_written(zoo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fer_core.live import LiveProcessor

    model, _ = load_model("cnn", zoo)
    processor = LiveProcessor(model)
    processor.process(face_frame())  # warm up: compiles the model's inference function
    spy = WriteSpy(monkeypatch)
    for shift in range(5):
        annotated, faces = processor.process(np.roll(face_frame(), shift, axis=1))
        assert annotated.shape == (480, 640, 3) and len(faces) == 1
    monkeypatch.undo()
    assert spy.writes == []


# --------------------------------------------------------------------------------------------
# Where models come from, and the server's defaults
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../../etc/passwd", "/tmp/model", "cnn/../../x", "my_upload.pkl"])
def test_models_load_only_by_registered_name(name: str, zoo: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="Unknown model"):
        load_model(name, zoo)


def test_keras_models_load_in_safe_mode(zoo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    calls: list[dict[str, Any]] = []
    real = keras.saving.load_model

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(keras.saving, "load_model", spy)
    load_model("cnn_basic", zoo)
    assert calls and all(call.get("safe_mode") is True for call in calls)


def test_server_defaults_are_safe() -> None:
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())["server"]
    assert config["address"] == "127.0.0.1"  # localhost unless the README's instructions are followed
    assert config.get("enableXsrfProtection", True) is True
    assert config.get("enableCORS", True) is True
    assert config["maxUploadSize"] == 200
    readme = (REPO / "README.md").read_text()
    assert "STREAMLIT_SERVER_ADDRESS=0.0.0.0" in readme  # how to expose it, documented


def test_no_secrets_in_the_repository() -> None:
    import subprocess

    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert ".streamlit/secrets.toml" not in files
    patterns = [
        r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
        r"\bAKIA[0-9A-Z]{16}\b",
        r"\bghp_[A-Za-z0-9]{36}\b",
        r"\bsk-[A-Za-z0-9]{32,}\b",
        r"(?i)(password|api_key|secret)\s*=\s*['\"][^'\"]{8,}",
    ]
    suspicious = []
    for name in files:
        path = REPO / name
        if path.suffix in {".py", ".toml", ".md", ".txt", ".cfg", ".yml", ".yaml", ".sh"} and path.is_file():
            text = path.read_text(errors="ignore")
            suspicious += [f"{name}: {p}" for p in patterns if re.search(p, text)]
    assert suspicious == []
