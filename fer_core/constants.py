"""Project-wide constants: class order, image geometry, default paths and seeds."""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: Class order used everywhere (alphabetical, as the image-folder layout sorts it).
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES = len(EMOTIONS)
IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE

#: The Kaggle challenge CSV numbers its labels in this order; we map them onto EMOTIONS.
CSV_LABEL_ORDER: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CSV_USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}


def _project_root() -> Path:
    """The repository when running from a checkout (editable install); else the working directory."""
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


def _artifacts_dir() -> Path:
    """The shipped models and summary: ``artifacts/`` of a checkout, or the installed copy of it.

    ``pip install`` puts ``artifacts/`` in the package ``fer_studio_artifacts`` (see pyproject.toml),
    so an installed FER Studio works with no checkout and no downloads.
    """
    checkout = Path(__file__).resolve().parent.parent / "artifacts"
    if checkout.is_dir():
        return checkout
    spec = importlib.util.find_spec("fer_studio_artifacts")
    locations = list(spec.submodule_search_locations or []) if spec else []
    return Path(locations[0]) if locations else checkout


PROJECT_ROOT = _project_root()
ARTIFACTS_DIR = _artifacts_dir()
MODELS_DIR = ARTIFACTS_DIR / "models"
EDA_SUMMARY_PATH = ARTIFACTS_DIR / "eda.json"
DEFAULT_DATA_DIR = PROJECT_ROOT / "data" / "fer2013"
RUNS_DIR = PROJECT_ROOT / "runs"
DATA_DIR_ENV = "FER_DATA_DIR"
MODELS_DIR_ENV = "FER_MODELS_DIR"
CACHE_DIR_ENV = "FER_CACHE_DIR"

SEED = 42
VALIDATION_FRACTION = 0.2
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".pgm"})
