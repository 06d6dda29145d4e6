"""Trained-model artifacts: ``<models_dir>/<name>/`` holds the model file and its ``card.json``.

Writes are atomic: everything is written into a temporary folder beside the target and renamed
into place, with the previous version kept as a backup until the new one is complete, so a crash
never leaves a half-written model where a good one was. Models are only ever loaded from a
models directory, never from a user-supplied file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from fer_core.constants import MODELS_DIR, MODELS_DIR_ENV
from fer_core.errors import ModelNotFoundError
from fer_core.models import REGISTRY, FerModel, get_spec, load_model_from_dir

CARD_NAME = "card.json"
_load_lock = threading.Lock()


def default_models_dir() -> Path:
    """``$FER_MODELS_DIR`` if set (tests, scratch runs), else ``artifacts/models``."""
    env = os.environ.get(MODELS_DIR_ENV, "")
    return Path(env) if env else MODELS_DIR


def model_dir(name: str, models_dir: Path | None = None) -> Path:
    """The folder of a registered model inside ``models_dir`` (default ``artifacts/models``)."""
    get_spec(name)  # validates the name
    return Path(models_dir or default_models_dir()) / name


def write_artifact(model: FerModel, card: dict[str, Any], models_dir: Path | None = None) -> Path:
    """Save ``model`` and ``card`` atomically into ``models_dir/<name>``; return that folder."""
    root = Path(models_dir or default_models_dir())
    root.mkdir(parents=True, exist_ok=True)
    target = root / model.name
    staging = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=root))
    try:
        model_path = model.save(staging)
        card = dict(card)
        card["file"] = model_path.name
        card["file_size_bytes"] = model_path.stat().st_size
        (staging / CARD_NAME).write_text(json.dumps(card, indent=1) + "\n")
        _swap_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def install_artifact(source: Path, models_dir: Path | None = None) -> Path:
    """Copy a finished model folder (e.g. from ``runs/``) into the models directory atomically."""
    card = read_card(source)
    root = Path(models_dir or default_models_dir())
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{card['name']}-", dir=root))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        _swap_into_place(staging, root / card["name"])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root / card["name"]


def _swap_into_place(staging: Path, target: Path) -> None:
    backup = target.with_name(f".{target.name}.backup")
    shutil.rmtree(backup, ignore_errors=True)
    if target.exists():
        os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        if backup.exists() and not target.exists():
            os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def read_card(directory: Path) -> dict[str, Any]:
    """The card of a model folder; a missing or corrupt card raises ModelNotFoundError."""
    path = Path(directory) / CARD_NAME
    try:
        card = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelNotFoundError(f"No model card at {path}; the model is not trained yet.") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelNotFoundError(f"The model card {path} is unreadable ({exc}).") from exc
    if not isinstance(card, dict) or card.get("name") not in REGISTRY:
        raise ModelNotFoundError(f"The model card {path} does not describe a registered model.")
    return card


def list_cards(models_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    """Cards of every registered model, in registry order; an unavailable one is ``{"error": ...}``."""
    cards: dict[str, dict[str, Any]] = {}
    for name in REGISTRY:
        directory = Path(models_dir or default_models_dir()) / name
        try:
            card = read_card(directory)
            if not (directory / card.get("file", get_spec(name).file_name)).is_file():
                raise ModelNotFoundError(f"The model file for {name} is missing from {directory}.")
            cards[name] = card
        except ModelNotFoundError as exc:
            cards[name] = {"name": name, "error": str(exc)}
    return cards


def trained_models(models_dir: Path | None = None) -> list[str]:
    """Names of the models whose artifacts are present and readable."""
    return [name for name, card in list_cards(models_dir).items() if "error" not in card]


def load_model(name: str, models_dir: Path | None = None) -> tuple[FerModel, dict[str, Any]]:
    """Load a trained model and its card from the models directory."""
    directory = model_dir(name, models_dir)
    card = read_card(directory)
    with _load_lock:  # Keras model construction is not thread-safe.
        try:
            model = load_model_from_dir(directory, card.get("params", {}), name)
        except (OSError, ValueError, EOFError, KeyError) as exc:
            raise ModelNotFoundError(f"The {name} model in {directory} could not be loaded ({exc}).") from exc
    return model, card


def best_model_name(models_dir: Path | None = None) -> str | None:
    """The trained model with the highest headline test accuracy, if any."""
    best, best_acc = None, -1.0
    for name, card in list_cards(models_dir).items():
        acc = card.get("test_accuracy") if "error" not in card else None
        acc = float(acc) if isinstance(acc, (int, float)) else -1.0
        if acc > best_acc:
            best, best_acc = name, acc
    return best
