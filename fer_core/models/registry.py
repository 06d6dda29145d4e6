"""The registry: every model FER Studio knows, by name, in one table.

Adding a model is one :class:`~fer_core.models.base.ModelSpec` entry here: a family class, a builder,
its parameter schema (the defaults) and how to describe it. Training, evaluation, the CLI, the
comparison page and the detector all loop over :data:`REGISTRY`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fer_core.constants import SEED
from fer_core.errors import ModelNotFoundError
from fer_core.models.base import FerModel, ModelSpec, reject_unknown_params
from fer_core.models.keras_models import KerasModel
from fer_core.models.networks import build_cnn, build_cnn_basic, build_lstm, build_mlp
from fer_core.models.sklearn_models import (
    LogisticRegressionModel,
    RandomForestModel,
    build_forest,
    build_logreg,
)

_KERAS_COMMON: dict[str, Any] = {
    "seed": SEED,
    "epochs": 30,
    "batch_size": 128,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "schedule": "constant",
    "warmup_epochs": 0,
    "label_smoothing": 0.0,
    "patience": 8,
    "restore_best": True,
    "class_weight": None,
    "augment": True,
    "flip": True,
    "shift": 0.0,
    "validation_fraction": 0.2,
    # "mixed_bfloat16": compute in bfloat16 with float32 weights (see KerasModel.build_network).
    "precision": "float32",
}

#: The best CNN's recipe (the FER+ CNN starts from it and changes what fine-tuning needs).
_BEST_CNN: dict[str, Any] = {
    **_KERAS_COMMON,
    "widths": [32, 64, 128, 256],
    "convs_per_stage": 2,
    "dropout": 0.4,
    "l2": 5e-4,
    "epochs": 60,
    # One network: the CPU recipe (about 70 minutes on 2 cores in mixed bfloat16). The shipped Best CNN
    # averages two networks of this recipe trained on a GPU (ensemble_epochs [60, 40]).
    "ensemble_epochs": [60],
    "precision": "mixed_bfloat16",
    "batch_size": 128,
    "optimizer": "sgd",
    "learning_rate": 0.05,
    "schedule": "cosine",
    "warmup_epochs": 2,
    "label_smoothing": 0.1,
    "patience": 0,
    "restore_best": False,
    "shift": 0.0833,
    "validation_fraction": 0.1,
}

REGISTRY: dict[str, ModelSpec] = {
    "logreg": ModelSpec(
        name="logreg",
        display_name="Logistic regression",
        family="sklearn",
        input_kind="flat",
        model_class=LogisticRegressionModel,
        builder=build_logreg,
        default_params={
            "seed": SEED,
            "features": "hog+pixels",
            "pca_components": 0,
            "whiten": True,
            "C": 0.001,
            "max_iter": 500,
            "per_image_norm": False,
            "flip_augment": False,
            "validation_fraction": 0.2,
            "refit_full_train": True,
        },
        description="HOG edge features + pixels, standardised -> multinomial logistic regression (lbfgs); "
        "features='pixels' with pca_components=300 gives the pixels-only model.",
        legacy_params={"features": "pixels"},  # logreg cards from before HOG features existed
    ),
    "random_forest": ModelSpec(
        name="random_forest",
        display_name="Random forest",
        family="sklearn",
        input_kind="flat",
        model_class=RandomForestModel,
        builder=build_forest,
        default_params={
            "seed": SEED,
            "n_estimators": 150,
            "max_depth": None,
            "min_samples_leaf": 1,
            "max_features": "sqrt",
            "class_weight": None,
            "per_image_norm": False,
            "flip_augment": True,
            "validation_fraction": 0.2,
            "refit_full_train": True,
        },
        description="150 fully grown decision trees on raw pixels, trained on the faces and their mirror images; "
        "its importances map back to a 48x48 heatmap.",
    ),
    "mlp": ModelSpec(
        name="mlp",
        display_name="Dense MLP",
        family="keras",
        input_kind="flat",
        model_class=KerasModel,
        builder=build_mlp,
        default_params={
            **_KERAS_COMMON,
            "features": "hog+pixels",
            "hidden_units": [512, 256],
            "dropout": 0.2,
            "epochs": 60,
            "shift": 0.0,
            "schedule": "cosine",
            "label_smoothing": 0.1,
            "patience": 0,
        },
        description="Fully connected network on HOG edge features (computed inside the network) plus the "
        "2,304 flattened pixels, with BatchNorm and dropout; features='pixels' gives the pixels-only MLP.",
        legacy_params={"features": "pixels"},  # MLP cards from before HOG features existed
    ),
    "lstm": ModelSpec(
        name="lstm",
        display_name="Row-wise LSTM",
        family="keras",
        input_kind="rows",
        model_class=KerasModel,
        builder=build_lstm,
        default_params={
            **_KERAS_COMMON,
            "units": 128,
            "lstm_layers": 2,
            "bidirectional": True,
            "dense_units": 128,
            "dropout": 0.3,
            "epochs": 40,
            "shift": 0.06,
        },
        description="Each face read as 48 time steps of 48 pixels by a stacked bidirectional LSTM.",
        tta=True,
    ),
    "cnn_basic": ModelSpec(
        name="cnn_basic",
        display_name="Basic CNN (seed)",
        family="keras",
        input_kind="image",
        model_class=KerasModel,
        builder=build_cnn_basic,
        default_params={**_KERAS_COMMON, "epochs": 30, "batch_size": 64, "augment": False, "patience": 5},
        description="The seed notebook's first CNN: Conv 32/64/128 + BatchNorm + pooling, Dense 128, Dropout 0.4.",
    ),
    "cnn": ModelSpec(
        name="cnn",
        display_name="Best CNN",
        family="keras",
        input_kind="image",
        model_class=KerasModel,
        builder=build_cnn,
        default_params=_BEST_CNN,
        description="One VGG-style CNN (4 stages of two 3x3 convolutions with BatchNorm, global average pooling; "
        "1.2 M parameters) trained 60 epochs with SGD-Nesterov, warm-up + cosine decay, label smoothing and "
        "shift/flip augmentation, in mixed bfloat16: the CPU recipe. The shipped Best CNN averages two such "
        "networks (60 and 40 epochs) trained on a GPU.",
        tta=True,
    ),
    "cnn_ferplus": ModelSpec(
        name="cnn_ferplus",
        display_name="Best CNN (FER+ labels)",
        family="keras",
        input_kind="image",
        model_class=KerasModel,
        builder=build_cnn,
        default_params={
            **_BEST_CNN,
            # Fine-tuning the best CNN's two networks: a tenth of its learning rate, no warm-up,
            # soft FER+ targets (no label smoothing needed), the best validation epoch kept.
            "epochs": 14,
            "ensemble_epochs": [14, 14],
            "learning_rate": 0.01,
            "warmup_epochs": 0,
            "label_smoothing": 0.0,
            "restore_best": True,
            "augment": "photo",
            "shift": 0.0,  # the photo augmentation shifts faces itself
            "labels": "ferplus",
            "init": "cnn",
            "precision": "mixed_bfloat16",
        },
        description="The Best CNN's two networks, each fine-tuned 14 epochs on the FER+ crowd votes (the share of "
        "10 annotators for each emotion as soft targets) with photo-like augmentation (tilt, zoom, light, blur, "
        "JPEG, occlusion), then averaged. FER+ votes: Barsoum et al. 2016 (Microsoft), MIT licence.",
        tta=True,
    ),
}

MODEL_NAMES: tuple[str, ...] = tuple(REGISTRY)


def get_spec(name: str) -> ModelSpec:
    """Look a model up by name; unknown names fail with the list of valid ones."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ModelNotFoundError(f"Unknown model {name!r}. Choose one of: {', '.join(REGISTRY)}.") from None


def params_by_model(names: list[str], params: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """One set of parameters given for several models (``train all``): each model gets the keys it takes.

    A key that none of the models takes raises ValueError, as for a single model.
    """
    specs = [get_spec(name) for name in names]
    reject_unknown_params(params, specs)
    return {spec.name: {k: v for k, v in params.items() if k in spec.default_params} for spec in specs}


def create_model(name: str, **params: Any) -> FerModel:
    """A fresh, untrained model from the registry, with ``params`` overriding its defaults."""
    spec = get_spec(name)
    return spec.model_class(spec, params)


def load_model_from_dir(directory: Path, params: Mapping[str, Any], name: str) -> FerModel:
    """Rebuild a trained model from its directory (see :mod:`fer_core.artifacts`)."""
    spec = get_spec(name)
    return spec.model_class.load(spec, params, directory)
