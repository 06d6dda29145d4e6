"""Trained-model artifacts: ``<models_dir>/<name>/`` holds the model file and its ``card.json``.

Cards are :class:`~fer_core.cards.ModelCard` objects; :func:`list_cards` gives a folder's
:class:`~fer_core.cards.ModelCards` (trained models, the best one, why others are unavailable).

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
from pathlib import Path

from fer_core.cards import ModelCard, ModelCards
from fer_core.constants import MODELS_DIR, MODELS_DIR_ENV
from fer_core.errors import ModelNotFoundError
from fer_core.models import REGISTRY, FerModel, get_spec, load_model_from_dir
from fer_core.models.networks import BUILD_LOCK

CARD_NAME = "card.json"
_load_lock = BUILD_LOCK  # Keras model construction is not thread-safe


def default_models_dir() -> Path:
    """``$FER_MODELS_DIR`` if set (tests, scratch runs), else ``artifacts/models``."""
    env = os.environ.get(MODELS_DIR_ENV, "")
    return Path(env) if env else MODELS_DIR


def model_dir(name: str, models_dir: Path | None = None) -> Path:
    """The folder of a registered model inside ``models_dir`` (default ``artifacts/models``)."""
    get_spec(name)  # validates the name
    return Path(models_dir or default_models_dir()) / name


def write_artifact(model: FerModel, card: ModelCard, models_dir: Path | None = None) -> Path:
    """Save ``model`` and ``card`` atomically into ``models_dir/<name>``; return that folder.

    A model it replaces is kept under ``.versions/`` (see :func:`install_artifact`).
    """
    root = Path(models_dir or default_models_dir())
    root.mkdir(parents=True, exist_ok=True)
    target = root / model.name
    staging = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=root))
    try:
        model_path = model.save(staging)
        card = card.with_file(model_path.name, model_path.stat().st_size)
        (staging / CARD_NAME).write_text(card.to_json())
        _swap_into_place(staging, target, keep=_version_slot(root, model.name))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def update_card(card: ModelCard, models_dir: Path | None = None) -> Path:
    """Rewrite an installed model's ``card.json`` atomically (new measurements); the model file is untouched."""
    directory = model_dir(card.name, models_dir)
    read_card(directory)  # the model must be installed already
    handle, temporary = tempfile.mkstemp(prefix=".card-", suffix=".json", dir=directory)
    try:
        with os.fdopen(handle, "w") as out:
            out.write(card.to_json())
        os.replace(temporary, directory / CARD_NAME)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return directory / CARD_NAME


#: Earlier versions of installed models, kept by :func:`install_artifact` (git-ignored).
VERSIONS_DIR = ".versions"


def install_artifact(source: Path, models_dir: Path | None = None) -> Path:
    """Copy a finished model folder (e.g. from ``runs/``) into the models directory atomically.

    The model it replaces (the shipped one included) is kept under ``.versions/<name>/``, so
    :func:`restore_version` can bring it back.
    """
    card = read_card(source)
    root = Path(models_dir or default_models_dir())
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{card.name}-", dir=root))
    try:
        shutil.copytree(source, staging, dirs_exist_ok=True)
        _swap_into_place(staging, root / card.name, keep=_version_slot(root, card.name))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root / card.name


def _version_slot(root: Path, name: str) -> Path | None:
    """Where the currently installed ``name`` goes when replaced (None if nothing is installed)."""
    current = root / name
    if not (current / CARD_NAME).is_file():
        return None
    try:
        created = read_card(current).created or "unknown"
    except ModelNotFoundError:
        created = "unreadable"
    stamp = "".join(ch for ch in created if ch.isalnum())[:14] or "unknown"
    slot = root / VERSIONS_DIR / name / stamp
    n = 1
    while slot.exists():
        n += 1
        slot = root / VERSIONS_DIR / name / f"{stamp}-{n}"
    return slot


def _swap_into_place(staging: Path, target: Path, keep: Path | None = None) -> None:
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
    if keep is not None and backup.exists():
        keep.parent.mkdir(parents=True, exist_ok=True)
        os.replace(backup, keep)
    shutil.rmtree(backup, ignore_errors=True)


def list_versions(name: str, models_dir: Path | None = None) -> list[tuple[str, ModelCard]]:
    """Earlier versions of ``name`` kept by installs: ``(version id, card)``, newest first."""
    folder = Path(models_dir or default_models_dir()) / VERSIONS_DIR / name
    versions = []
    for path in sorted(folder.iterdir(), reverse=True) if folder.is_dir() else []:
        try:
            versions.append((path.name, read_card(path)))
        except ModelNotFoundError:
            continue
    return versions


def restore_version(name: str, version: str, models_dir: Path | None = None) -> Path:
    """Bring back an earlier version of ``name`` (the one installed now is kept as a version in turn)."""
    root = Path(models_dir or default_models_dir())
    source = root / VERSIONS_DIR / name / version
    if not (source / CARD_NAME).is_file() or "/" in version or version.startswith("."):
        raise ModelNotFoundError(f"There is no earlier version {version!r} of {name} to restore.")
    target = install_artifact(source, root)
    shutil.rmtree(source, ignore_errors=True)
    return target


def read_card(directory: Path) -> ModelCard:
    """The card of a model folder; a missing, corrupt or invalid card raises ModelNotFoundError."""
    path = Path(directory) / CARD_NAME
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelNotFoundError(f"No model card at {path}; the model is not trained yet.") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelNotFoundError(f"The model card {path} is unreadable ({exc}).") from exc
    return ModelCard.from_dict(data, source=f"The model card {path}")


def list_cards(models_dir: Path | None = None) -> ModelCards:
    """Every registered model's card in ``models_dir``, or why the model is unavailable."""
    cards: dict[str, ModelCard] = {}
    errors: dict[str, str] = {}
    for name in REGISTRY:
        directory = Path(models_dir or default_models_dir()) / name
        try:
            card = read_card(directory)
            if not (directory / (card.file or get_spec(name).file_name)).is_file():
                raise ModelNotFoundError(f"The model file for {name} is missing from {directory}.")
            cards[name] = card
        except ModelNotFoundError as exc:
            errors[name] = str(exc)
    return ModelCards(cards=cards, errors=errors)


def load_model(name: str, models_dir: Path | None = None) -> tuple[FerModel, ModelCard]:
    """Load a trained model and its card from the models directory."""
    directory = model_dir(name, models_dir)
    card = read_card(directory)
    with _load_lock:  # Keras model construction is not thread-safe.
        try:
            model = load_model_from_dir(directory, card.params, name)
        except (OSError, ValueError, EOFError, KeyError) as exc:
            raise ModelNotFoundError(f"The {name} model in {directory} could not be loaded ({exc}).") from exc
    model.temperature = card.temperature
    model.not_sure_below = card.not_sure_below
    return model, card
