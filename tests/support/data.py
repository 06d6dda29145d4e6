"""Test data: where the real FER2013 is (one rule), synthetic faces, dataset layouts and zips.

Everything is generated in temporary folders at test time; nothing from FER2013 is ever written into
the repository.
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core.constants import CSV_LABEL_ORDER, EMOTIONS
from fer_core.data import FerDataset, resolve_data_dir

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow is imported lazily, after this

REPO = Path(__file__).resolve().parents[2]
#: The real FER2013, found by the app's own rule: ``$FER_DATA_DIR``, else ``data/fer2013``.
#: Without it the with-dataset tests skip and the rest run on synthetic faces (``make test`` passes
#: either way; ``.ci/run`` runs both).
DATA_DIR = resolve_data_dir()
HAS_DATA = (DATA_DIR / "train").is_dir() and (DATA_DIR / "test").is_dir()
NO_DATA_REASON = f"FER2013 is not at {DATA_DIR}; set FER_DATA_DIR to its image folders to run this test."
needs_data = pytest.mark.skipif(not HAS_DATA, reason=NO_DATA_REASON)

#: The published FER2013 counts, in EMOTIONS order.
REAL_TRAIN_COUNTS = dict(zip(EMOTIONS, (3995, 436, 4097, 7215, 4965, 4830, 3171)))
REAL_TEST_COUNTS = dict(zip(EMOTIONS, (958, 111, 1024, 1774, 1233, 1247, 831)))

#: Tiny versions of the registry's models: enough to write real cards in seconds (a new registry
#: entry must be added here; a test checks that). The FER+ CNN starts from random weights here.
TINY_PARAMS: dict[str, dict] = {
    "logreg": {"pca_components": 20, "max_iter": 50},
    "random_forest": {"n_estimators": 10, "max_depth": 8},
    "mlp": {"epochs": 1, "hidden_units": [32]},
    "lstm": {"epochs": 1, "units": 8, "lstm_layers": 1, "bidirectional": False, "dense_units": 16},
    "cnn_basic": {"epochs": 1},
    "cnn": {"epochs": 1, "widths": [8, 16], "convs_per_stage": 1},
    "cnn_ferplus": {"epochs": 1, "widths": [8, 16], "convs_per_stage": 1, "init": None},
}
#: The test zoo's training-subset size (and the test split's, on the real data).
ZOO_LIMIT = 700


# --------------------------------------------------------------------------------------------
# Synthetic faces and dataset layouts
# --------------------------------------------------------------------------------------------


def synthetic_faces(n: int, seed: int = 0) -> np.ndarray:
    """Face-like uint8 images ``(n, 48, 48)``: smooth random shapes (std ~45) plus fine pixel noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0.0, 1.0, (n, 6, 6))
    smooth = np.stack([cv2.resize(c, (48, 48), interpolation=cv2.INTER_CUBIC) for c in coarse])  # (n, 48, 48)
    smooth /= smooth.std(axis=(1, 2), keepdims=True)
    faces = 128.0 + 45.0 * smooth + rng.normal(0.0, 8.0, smooth.shape)
    return np.clip(faces, 0, 255).astype(np.uint8)


def synthetic_dataset(n_train: int = 210, n_test: int = 70, seed: int = 0) -> FerDataset:
    """A FerDataset of synthetic faces with balanced labels."""
    x = synthetic_faces(n_train + n_test, seed)
    y = np.arange(n_train + n_test, dtype=np.int64) % len(EMOTIONS)
    return FerDataset(x[:n_train], y[:n_train], x[n_train:], y[n_train:], source="synthetic", fingerprint="synthetic")


def write_image(path: Path, image: np.ndarray) -> None:
    """Write an image (grey or RGB/RGBA as OpenCV's BGR order) with OpenCV; the suffix picks the format."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buffer = cv2.imencode(path.suffix, image)
    assert ok, f"could not encode {path}"
    path.write_bytes(buffer.tobytes())


def write_image_folder(root: Path, per_class: dict[str, int] | None = None, seed: int = 0) -> dict[str, int]:
    """``root/{train,test}/<emotion>/`` with synthetic 48x48 grey faces, PNG and JPG alternately.

    Returns the number of images written per split.
    """
    per_class = per_class or {"train": 3, "test": 2}
    totals = {}
    for split_index, (split, n) in enumerate(per_class.items()):
        faces = synthetic_faces(n * len(EMOTIONS), seed + split_index)
        for label, emotion in enumerate(EMOTIONS):
            for i in range(n):
                suffix = ".png" if i % 2 == 0 else ".jpg"
                write_image(root / split / emotion / f"{emotion}_{i}{suffix}", faces[label * n + i])
        totals[split] = n * len(EMOTIONS)
    return totals


def write_fer_csv(path: Path, rows: list[tuple[object, object, object]]) -> Path:
    """A Kaggle-style ``emotion,pixels,Usage`` CSV; pixel arrays are written space-separated."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["emotion", "pixels", "Usage"])
        for emotion, pixels, usage in rows:
            if isinstance(pixels, np.ndarray):
                pixels = " ".join(str(int(v)) for v in pixels.ravel())
            writer.writerow([emotion, pixels, usage])
    return path


def csv_label(emotion: str) -> int:
    """The Kaggle CSV's numeric label for one of our emotion names."""
    return CSV_LABEL_ORDER.index(emotion)


def zip_tree(source: Path, zip_path: Path, prefix: str = "") -> Path:
    """Zip every file under ``source`` with archive names ``prefix/<relative path>``."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                relative = path.relative_to(source).as_posix()
                archive.write(path, f"{prefix}/{relative}" if prefix else relative)
    return zip_path


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> content), to compare folders byte for byte."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
