"""Session-scoped fixtures for the engine tests: a real (or synthetic) dataset, ~200 faces, a tiny zoo.

Test modules load them with ``pytest_plugins = ["fixtures_core"]``; nothing here is trained or
written outside pytest's temporary folders.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from core_helpers import HAS_REAL_DATA, REAL_DATA, synthetic_dataset

from fer_core.data import FerDataset, subsample

# --------------------------------------------------------------------------------------------
# Shared, session-scoped data and models
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def core_dataset() -> FerDataset:
    """The real train split with a stratified 700-image test split, or a synthetic stand-in."""
    if not HAS_REAL_DATA:
        return synthetic_dataset(1400, 140)
    from fer_core.data import load_dataset

    full = load_dataset(REAL_DATA)
    x_test, y_test = subsample(full.x_test, full.y_test, 700)
    return FerDataset(full.x_train, full.y_train, x_test, y_test, source=full.source, fingerprint=full.fingerprint)


@pytest.fixture(scope="session")
def small_faces(core_dataset: FerDataset) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """About 200 training faces and 70 validation faces ``(x, y, x_val, y_val)``, every class present."""
    x, y = subsample(core_dataset.x_train, core_dataset.y_train, 280, seed=1)
    from fer_core.data import validation_split

    return validation_split(x, y, fraction=0.25)


@pytest.fixture(scope="session")
def tiny_zoo(tmp_path_factory: pytest.TempPathFactory, core_dataset: FerDataset) -> Path:
    """logreg and a one-epoch cnn_basic trained on 700 images through ``train_model`` into a models folder."""
    from fer_core.training import train_model

    models_dir = tmp_path_factory.mktemp("tiny_zoo")
    train_model("logreg", core_dataset, params={"pca_components": 20, "max_iter": 50}, limit=700, out_dir=models_dir)
    train_model("cnn_basic", core_dataset, params={"epochs": 1}, limit=700, out_dir=models_dir)
    return models_dir
