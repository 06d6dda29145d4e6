"""Shared fixtures: the dataset location, a small model zoo trained once per session, clean env vars."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # pages import ui_common and fer_core from the repository root
    sys.path.insert(0, str(REPO))

from fer_core.data import resolve_data_dir  # noqa: E402 - after the path set-up above

#: The real FER2013, found by the app's own rule: ``$FER_DATA_DIR``, else ``data/fer2013``.
#: Without it the with-dataset tests skip and the rest run on synthetic faces.
DATA_DIR = resolve_data_dir()
HAS_DATA = (DATA_DIR / "train").is_dir() and (DATA_DIR / "test").is_dir()
NO_DATA_REASON = f"FER2013 is not at {DATA_DIR}; set FER_DATA_DIR to its image folders to run this test."

#: Tiny versions of the six registry models: enough to write real cards in seconds.
TINY_PARAMS: dict[str, dict] = {
    "logreg": {"pca_components": 20, "max_iter": 50},
    "random_forest": {"n_estimators": 10, "max_depth": 8},
    "mlp": {"epochs": 1, "hidden_units": [32]},
    "lstm": {"epochs": 1, "units": 8, "lstm_layers": 1, "bidirectional": False, "dense_units": 16},
    "cnn_basic": {"epochs": 1},
    "cnn": {"epochs": 1, "widths": [8, 16], "convs_per_stage": 1},
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: browser end-to-end tests (need /usr/bin/chromium)")


def small_dataset(n_train: int = 600, n_test: int = 700):
    """A stratified 600 / 700-image slice of FER2013, or random faces when the dataset is absent."""
    from fer_core.data import FerDataset, load_dataset, subsample

    if HAS_DATA:
        full = load_dataset(DATA_DIR)
        x_train, y_train = subsample(full.x_train, full.y_train, n_train)
        x_test, y_test = subsample(full.x_test, full.y_test, n_test)
        return FerDataset(x_train, y_train, x_test, y_test, source="subset", fingerprint=full.fingerprint)
    rng = np.random.default_rng(0)
    y_train, y_test = np.arange(n_train) % 7, np.arange(n_test) % 7
    x_train = rng.integers(0, 256, (n_train, 48, 48), dtype=np.uint8)
    x_test = rng.integers(0, 256, (n_test, 48, 48), dtype=np.uint8)
    return FerDataset(x_train, y_train, x_test, y_test, source="synthetic", fingerprint="synthetic")


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All six registry models trained small (one epoch, 600 images) into a temporary models folder."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from fer_core.training import train_model

    models_dir = tmp_path_factory.mktemp("zoo")
    dataset = small_dataset()
    started = time.perf_counter()
    for name, params in TINY_PARAMS.items():
        train_model(name, dataset, params=params, out_dir=models_dir)
    print(f"\ntest zoo trained in {time.perf_counter() - started:.0f} s")
    return models_dir


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Browser tests may skip on a user's machine without chromium, but never in CI.

    ``.ci/run`` sets ``FER_REQUIRE_BROWSER=1``; there a skipped end-to-end test counts as a failure.
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("FER_REQUIRE_BROWSER") == "1" and report.skipped and item.get_closest_marker("e2e"):
        report.outcome = "failed"
        report.longrepr = f"browser test skipped in CI (FER_REQUIRE_BROWSER=1): {report.longrepr}"
