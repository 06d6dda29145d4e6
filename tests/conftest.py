"""The test suite's one set of fixtures: the dataset (real or synthetic), a tiny zoo, a face detector.

Tests are grouped by what they drive: ``unit/`` calls ``fer_core`` and ``fer_ui`` directly,
``page/`` runs the Streamlit pages with ``AppTest``, ``e2e/`` clicks through a real server in
Debian's chromium. Helpers shared by them live in ``support/``.

The dataset is found by the app's own rule (``$FER_DATA_DIR``, else ``data/fer2013``); without it,
the with-dataset tests skip and everything else runs on synthetic faces.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from support.data import DATA_DIR, HAS_DATA, TINY_PARAMS, ZOO_LIMIT, synthetic_dataset

from fer_core.data import FerDataset, load_dataset, subsample, validation_split
from fer_core.faces import FaceDetector
from fer_core.models import get_spec
from fer_core.training import train_model
from fer_ui.process import prepare_process


def pytest_configure(config: pytest.Config) -> None:
    # The server process's one-time set-up, as streamlit_app.py does it, before any test loads TensorFlow.
    prepare_process()


@pytest.fixture(scope="session")
def core_dataset() -> FerDataset:
    """The real train split with a stratified 700-image test split, or a synthetic stand-in."""
    if not HAS_DATA:
        return synthetic_dataset(1400, 140)
    full = load_dataset(DATA_DIR)
    x_test, y_test = subsample(full.x_test, full.y_test, ZOO_LIMIT)
    return FerDataset(full.x_train, full.y_train, x_test, y_test, source=full.source, fingerprint=full.fingerprint)


@pytest.fixture(scope="session")
def small_faces(core_dataset: FerDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """About 200 training faces and 70 validation faces ``(x, y, x_val, y_val)``, every class present."""
    x, y = subsample(core_dataset.x_train, core_dataset.y_train, 280, seed=1)
    return validation_split(x, y, fraction=0.25)


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory, core_dataset: FerDataset) -> Path:
    """Every registry model trained tiny (TINY_PARAMS, 700 images) through ``train_model`` into a folder.

    Without the dataset there are no FER+ votes either: the FER+ CNN then learns FER2013's labels.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    models_dir = tmp_path_factory.mktemp("zoo")
    started = time.perf_counter()
    for name, params in TINY_PARAMS.items():
        if not HAS_DATA and params.get("labels", get_spec(name).default_params.get("labels")) == "ferplus":
            params = {**params, "labels": "fer2013"}
        train_model(name, core_dataset, params=params, limit=ZOO_LIMIT, out_dir=models_dir)
    print(f"\ntest zoo trained in {time.perf_counter() - started:.0f} s")
    return models_dir


@pytest.fixture(scope="session")
def detector() -> FaceDetector:
    """One face detector for the session, as the dashboard keeps one per server."""
    return FaceDetector()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Browser tests may skip on a user's machine without chromium, but never in CI.

    ``.ci/run`` sets ``FER_REQUIRE_BROWSER=1``; there a browser test skipped for want of a browser
    counts as a failure. (One skipped for want of the dataset stays a skip: CI also runs without it.)
    """
    outcome = yield
    report = outcome.get_result()
    no_browser = report.skipped and any(word in str(report.longrepr) for word in ("chromium", "playwright"))
    if os.environ.get("FER_REQUIRE_BROWSER") == "1" and no_browser and item.get_closest_marker("e2e"):
        report.outcome = "failed"
        report.longrepr = f"browser test skipped in CI (FER_REQUIRE_BROWSER=1): {report.longrepr}"
