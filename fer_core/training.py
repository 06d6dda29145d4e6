"""Training: fit a registered model on the train split, evaluate on test, write its artifact.

Progress flows out through a :data:`ProgressCallback`; a :class:`StopFlag` ends training at the
next batch (Keras) or chunk of work (scikit-learn) while keeping the best weights so far.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.artifacts import load_model, write_artifact
from fer_core.calibration import Calibration, calibrate
from fer_core.cards import ModelCard
from fer_core.constants import EMOTIONS, IMAGE_SIZE
from fer_core.data import FerDataset, subsample, validation_split
from fer_core.errors import FerError
from fer_core.eta import PHASE_LABELS
from fer_core.evaluation import evaluate, rounded
from fer_core.ferplus import CREDIT, NO_MAJORITY, FerPlusTest, load_faces, read_votes, resolve_votes_path, soft_targets
from fer_core.models import FerModel, create_model, get_spec, params_to_json
from fer_core.models.keras_models import KerasModel
from fer_core.models.sklearn_models import RandomForestModel
from fer_core.progress import ProgressCallback, ProgressEvent, StopFlag, emit

PROTOCOL = (
    "Trained on the FER2013 train split only; epochs and hyperparameters selected on a stratified "
    "validation split carved from train (seed 42); evaluated once on the full test split "
    "(7,178 images = PublicTest + PrivateTest)."
)
FERPLUS_PROTOCOL = (
    "Trained on the FER2013 train split's faces with the FER+ votes as soft targets (faces whose most "
    "votes went to contempt, unknown or not-a-face left out); the epoch kept and the calibration chosen on a "
    "stratified validation split carved from train (seed 42); evaluated once on the full test split against "
    f"FER2013's labels and against the clear FER+ majority. {CREDIT}."
)


def ferplus_training_set(dataset: FerDataset, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Faces of the train split with their FER+ vote shares ``((n, 48, 48), (n, 7))``.

    Needs the image-folder FER2013 the votes were made for and the votes file (see :mod:`fer_core.ferplus`).
    """
    votes = read_votes(resolve_votes_path(dataset.source), "train")
    keep, shares = soft_targets(votes)
    faces = load_faces(dataset.source, votes)[keep]
    shares = shares[keep]
    if limit is not None and limit < len(faces):
        index, _ = subsample(np.arange(len(faces)), shares.argmax(axis=1), limit, seed=seed)
        faces, shares = faces[index], shares[index]
    return faces, shares


def starting_weights(name: str, models_dir: Path | None = None) -> list[list[np.ndarray]]:
    """The weights of a trained network to fine-tune from: one list per network (an ensemble has several).

    Looked for in ``models_dir`` first (``train all --out DIR`` fine-tunes the network it just
    trained), then among the installed models.
    """
    try:
        if models_dir is not None and (Path(models_dir) / name / "card.json").is_file():
            base, _ = load_model(name, Path(models_dir))
        else:
            base, _ = load_model(name)
    except FerError as exc:
        raise FerError(f"Fine-tuning starts from the installed {name} model, which did not load: {exc}") from None
    if not isinstance(base, KerasModel):
        raise FerError(f"Only a Keras network can be fine-tuned, and {name} is not one.")
    network = base.model_
    members = [layer for layer in network.layers if layer.name.startswith("cnn_member_")]
    return [member.get_weights() for member in members] or [network.get_weights()]


def inference_timings(model: FerModel, faces: np.ndarray, repeats: int = 20) -> dict[str, float]:
    """Milliseconds per image at batch 1 and batch 256 (median of repeats)."""
    one = faces[:1]
    batch = np.resize(faces, (256, IMAGE_SIZE, IMAGE_SIZE)) if len(faces) else faces
    model.predict_proba(one)  # warm-up
    times_one = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict_proba(one)
        times_one.append(time.perf_counter() - start)
    times_batch = []
    for _ in range(max(3, repeats // 5)):
        start = time.perf_counter()
        model.predict_proba(batch)
        times_batch.append(time.perf_counter() - start)
    return {
        "ms_per_image_batch1": round(1000 * float(np.median(times_one)), 3),
        "ms_per_image_batch256": round(1000 * float(np.median(times_batch)) / 256, 4),
    }


def compute_device() -> str:
    """Where Keras computes (backend and device), for the model card."""
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    try:
        if backend == "jax":
            import jax

            devices = jax.devices()
            return f"jax on {devices[0].device_kind} x{len(devices)}"
    except Exception:  # noqa: BLE001 - purely informative
        pass
    return f"{backend} on CPU ({os.cpu_count()} cores)"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape a model's numbers."""
    import importlib.metadata as md

    versions = {"python": platform.python_version()}
    for package in ("numpy", "scikit-learn", "keras", "tensorflow-cpu", "tensorflow", "jax", "opencv-python-headless"):
        try:
            versions[package] = md.version(package)
        except md.PackageNotFoundError:
            continue
    return versions


@dataclass
class TrainResult:
    """A trained model, its card and where it was written (if it was)."""

    model: FerModel
    card: ModelCard
    path: Path | None


def build_card(
    model: FerModel,
    *,
    dataset: FerDataset,
    n_fit: int,
    n_val: int,
    seconds: float,
    test_metrics: dict[str, Any] | None,
    test_metrics_tta: dict[str, Any] | None,
    timings: dict[str, float] | None,
    validation_accuracy: float | None = None,
    limit: int | None = None,
    calibration: Calibration | None = None,
    ferplus_test: dict[str, Any] | None = None,
) -> ModelCard:
    """A self-describing model card for a freshly trained ``model``."""
    spec = model.spec
    headline = test_metrics_tta if (spec.tta and test_metrics_tta) else test_metrics
    card = ModelCard(
        name=spec.name,
        display_name=spec.display_name,
        family=spec.family,
        description=spec.description,
        params=params_to_json(model.params),
        classes=list(EMOTIONS),
        preprocessing={"input_kind": spec.input_kind, "input_shape": list(spec.input_shape), "scale": "pixels / 255"},
        protocol=FERPLUS_PROTOCOL if model.params.get("labels") == "ferplus" else PROTOCOL,
        labels=str(model.params.get("labels", "fer2013")),
        calibration=calibration.to_dict() if calibration else None,
        ferplus_test=ferplus_test,
        n_train=n_fit,
        n_validation=n_val,
        epochs_run=len(model.history_.get("loss", [])) or None,
        stopped_early=model.stopped_early_,
        training_seconds=round(seconds, 1),
        n_parameters=model.n_parameters(),
        history={k: [round(v, 5) for v in values] for k, values in model.history_.items()},
        headline_tta=bool(spec.tta and test_metrics_tta),
        test_accuracy=round(headline["accuracy"], 4) if headline else None,
        test_macro_f1=round(headline["macro_f1"], 4) if headline else None,
        test_metrics=rounded(test_metrics) if test_metrics else None,
        test_metrics_tta=rounded(test_metrics_tta) if test_metrics_tta else None,
        inference=timings,
        versions=library_versions(),
        machine={
            "platform": platform.platform(),
            "processor": platform.machine(),
            "compute": compute_device() if spec.family == "keras" else f"CPU ({os.cpu_count()} cores)",
        },
        data_fingerprint=dataset.fingerprint,
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        validation_accuracy=round(validation_accuracy, 4) if validation_accuracy is not None else None,
        limit=limit,
    )
    if isinstance(model, RandomForestModel) and hasattr(model, "estimator_"):
        importance = model.estimator_.feature_importances_.reshape(IMAGE_SIZE, IMAGE_SIZE)
        card.feature_importance = np.round(importance / max(importance.max(), 1e-12), 4).tolist()
    if len(model.member_histories_) > 1:
        card.member_histories = [
            {k: [round(v, 5) for v in values] for k, values in history.items()} for history in model.member_histories_
        ]
    return card


@functools.lru_cache(maxsize=2)
def _ferplus_test(source: str, votes_path: str) -> FerPlusTest:
    """The FER+ test faces, read once per data folder and votes file (7,178 files)."""
    return FerPlusTest.load(source, votes_path)


def ferplus_score(model: FerModel, dataset: FerDataset) -> tuple[dict[str, Any] | None, FerPlusTest | None]:
    """The card's ``ferplus_test`` entry (accuracy against the FER+ majority), when the votes are there."""
    try:
        plus = _ferplus_test(dataset.source, str(resolve_votes_path(dataset.source)))
    except FerError:
        return None, None
    score = {
        k: round(v, 4) if isinstance(v, float) else v
        for k, v in plus.score(model.predict(plus.faces, tta=model.spec.tta)).items()
    }
    return {**score, "tta": model.spec.tta, "credit": CREDIT}, plus


def train_model(
    name: str,
    dataset: FerDataset,
    *,
    params: dict[str, Any] | None = None,
    limit: int | None = None,
    out_dir: Path | None = None,
    callback: ProgressCallback | None = None,
    stop: StopFlag | None = None,
    evaluate_on_test: bool = True,
    checkpoint_dir: Path | None = None,
) -> TrainResult:
    """Train ``name`` on the train split (optionally a stratified subset of ``limit`` images).

    With ``checkpoint_dir`` a network saves itself there after every epoch and a later call resumes
    from the last saved epoch (long runs that a session's end may cut short).
    """
    params = dict(params or {})
    spec = get_spec(name)
    model = create_model(name, **params)  # checks the parameters against the model's schema
    seed = int(model.params["seed"])
    ferplus = model.params.get("labels") == "ferplus"
    if ferplus:
        x, targets = ferplus_training_set(dataset, limit, seed)
        y = targets.argmax(axis=1)
    else:
        x, y = subsample(dataset.x_train, dataset.y_train, limit, seed=seed)
        targets = y
    fraction = float(model.params["validation_fraction"])
    fit_idx, _, val_idx, _ = validation_split(np.arange(len(y)), y, fraction=fraction, seed=seed)
    x_fit, x_val, y_fit, y_val = x[fit_idx], x[val_idx], y[fit_idx], y[val_idx]
    if checkpoint_dir is not None and isinstance(model, KerasModel):
        model.checkpoint_dir_ = Path(checkpoint_dir)
    if model.params.get("init"):
        model.initial_weights_ = starting_weights(str(model.params["init"]), out_dir)  # type: ignore[attr-defined]
    refits = bool(model.params.get("refit_full_train", False)) and len(y_val) > 0
    fit_label = "Choosing the settings on validation" if refits else PHASE_LABELS["fit"]
    emit(callback, ProgressEvent("phase", name, message=f"{fit_label} ({len(y_fit):,} images)", phase="fit"))
    emit(callback, ProgressEvent("message", name, message=f"Training {spec.display_name} on {len(y_fit)} images"))
    started = time.perf_counter()
    model.fit(x_fit, targets[fit_idx], x_val, targets[val_idx], callback=callback, stop=stop)
    seconds = time.perf_counter() - started
    val_proba = model.predict_proba(x_val, tta=spec.tta) if len(y_val) else None
    val_accuracy = float((val_proba.argmax(axis=1) == y_val).mean()) if val_proba is not None else None
    if model.params.get("refit_full_train", False) and len(y_val) and not model.stopped_early_:
        # Hyperparameters were chosen on the validation split; the final model sees all of train.
        emit(callback, ProgressEvent("phase", name, message=f"{PHASE_LABELS['refit']} ({len(y):,})", phase="refit"))
        emit(callback, ProgressEvent("message", name, message=f"Refitting on all {len(y)} training images"))
        refit_started = time.perf_counter()
        selection_history = model.history_
        model = create_model(name, **params).fit(x, y, callback=callback, stop=stop)
        model.history_ = selection_history  # validation curve of the selection fit
        seconds += time.perf_counter() - refit_started
        x_fit, y_fit = x, y
    test_metrics = test_tta = timings = plus = None
    test_proba = test_labels = None
    if evaluate_on_test:
        emit(callback, ProgressEvent("phase", name, message=PHASE_LABELS["evaluate"], phase="evaluate"))
        emit(callback, ProgressEvent("message", name, message="Evaluating on the test split"))

        def evaluation_step(done: int, what: str) -> None:
            emit(callback, ProgressEvent("step", name, step=done, steps=4, message=what, phase="evaluate"))

        evaluation_step(0, "Evaluating on the test split")
        test_metrics = evaluate(model, dataset.x_test, dataset.y_test)
        evaluation_step(1, "Evaluating with mirrored faces")
        test_tta = evaluate(model, dataset.x_test, dataset.y_test, tta=True)
        evaluation_step(2, "Timing predictions")
        timings = inference_timings(model, dataset.x_test[:256])
        test_proba, test_labels = model.predict_proba(dataset.x_test, tta=spec.tta), dataset.y_test
        evaluation_step(3, "Scoring against the FER+ votes")
        plus, plus_set = ferplus_score(model, dataset)
        if ferplus and plus_set is not None:  # a FER+ model's confidence is judged against the FER+ majority
            majority = plus_set.votes.majority
            clear = majority != NO_MAJORITY
            test_proba = model.predict_proba(plus_set.faces[clear], tta=spec.tta)
            test_labels = majority[clear]
    calibration = None
    if val_proba is not None and len(y_val) >= 50:
        # Fitted on the selection model's validation answers (a refit model has seen those faces).
        clear = np.ones(len(y_val), bool)
        if ferplus:  # a tied vote has no right answer: calibrate on the faces with one most-voted emotion
            shares = targets[val_idx]
            clear = (shares == shares.max(axis=1, keepdims=True)).sum(axis=1) == 1
        calibration = calibrate(val_proba[clear], y_val[clear], test_proba, test_labels)
        model.temperature = calibration.temperature
        model.not_sure_below = calibration.not_sure_below
    card = build_card(
        model,
        dataset=dataset,
        n_fit=len(y_fit),
        n_val=len(y_val),
        seconds=seconds,
        test_metrics=test_metrics,
        test_metrics_tta=test_tta,
        timings=timings,
        validation_accuracy=val_accuracy,
        limit=limit,
        calibration=calibration,
        ferplus_test=plus,
    )
    path = write_artifact(model, card, out_dir) if out_dir is not None else None
    emit(callback, ProgressEvent("end", name, message="done"))
    return TrainResult(model=model, card=card, path=path)
