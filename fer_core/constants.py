"""Project-wide constants: class order, image geometry, default paths and seeds."""

from __future__ import annotations

from pathlib import Path

#: Class order used everywhere (alphabetical, as the image-folder layout sorts it).
EMOTIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
NUM_CLASSES = len(EMOTIONS)
IMAGE_SIZE = 48
N_PIXELS = IMAGE_SIZE * IMAGE_SIZE

#: The Kaggle challenge CSV numbers its labels in this order; we map them onto EMOTIONS.
CSV_LABEL_ORDER: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
CSV_USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = PROJECT_ROOT / "artifacts"
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
