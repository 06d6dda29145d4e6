"""The contract every model keeps, and the spec that describes one registered model.

:class:`ModelSpec` is what the registry stores per model: family, input kind, builder, parameter
defaults, display name. :class:`FerModel` is the scikit-learn-style interface shared by all
models: ``fit`` returns self, ``predict_proba`` takes uint8 faces ``(n, 48, 48)`` and applies the
model's own preprocessing, so callers never preprocess by hand.

:func:`reject_unknown_params` is the one place where parameter names are checked against a model's
schema (its defaults): :meth:`ModelSpec.check_params` and :meth:`ModelSpec.resolve_params` (every new
model), the jobs (the Training page) and the CLI (``registry.params_by_model``) all go through it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fer_core.calibration import apply_temperature
from fer_core.constants import NUM_CLASSES
from fer_core.preprocessing import INPUT_SHAPES, InputKind, check_faces, flip_faces
from fer_core.progress import ProgressCallback, StopFlag

Family = Literal["sklearn", "keras"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build, train and describe one registered model."""

    name: str
    display_name: str
    family: Family
    input_kind: InputKind
    #: The :class:`FerModel` subclass that trains and runs this model.
    model_class: type[FerModel]
    #: Builds the untrained estimator or network from resolved parameters.
    builder: Callable[[dict[str, Any]], Any]
    #: The parameter schema: every accepted parameter with its default value.
    default_params: Mapping[str, Any]
    description: str
    #: Whether the headline test accuracy uses horizontal-flip test-time augmentation.
    tta: bool = False
    #: Values of parameters added after models were first saved, as those older models used them;
    #: a saved card without such a parameter loads with this value, not today's default.
    legacy_params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return INPUT_SHAPES[self.input_kind]

    @property
    def file_name(self) -> str:
        return "model.keras" if self.family == "keras" else "model.joblib"

    def check_params(self, params: Mapping[str, Any] | None) -> None:
        """Raise ValueError, naming the valid ones, if ``params`` has keys this model does not take."""
        reject_unknown_params(params, [self])

    def resolve_params(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults overridden by ``params``, after :meth:`check_params`."""
        self.check_params(params)
        given = dict(params or {})
        resolved = {**self.default_params, **given}
        if "ensemble_epochs" in self.default_params and "epochs" in given and "ensemble_epochs" not in given:
            # An explicit epoch count means one network trained that long.
            resolved["ensemble_epochs"] = [int(resolved["epochs"])]
        return resolved

    def saved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters of a saved card as this model reads them: legacy values filled in, retired keys dropped."""
        saved = {**self.legacy_params, **params}
        return {key: value for key, value in saved.items() if key in self.default_params}


class FerModel:
    """scikit-learn-style contract shared by every model: ``fit`` returns self, ``predict_proba``.

    Settings live in ``params`` (resolved once, in ``__init__``); what training learns ends in ``_``.
    """

    def __init__(self, spec: ModelSpec, params: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.params: dict[str, Any] = spec.resolve_params(params)
        self.history_: dict[str, list[float]] = {}
        self.member_histories_: list[dict[str, list[float]]] = []
        self.stopped_early_ = False
        #: Temperature scaling of the probabilities (see :mod:`fer_core.calibration`); 1.0 = as trained.
        self.temperature = 1.0
        #: A top probability under this is answered "not sure" (see :mod:`fer_core.quality`); 0 = never.
        self.not_sure_below = 0.0

    @property
    def name(self) -> str:
        return self.spec.name

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        x_val: np.ndarray | None = None,
        y_val: np.ndarray | None = None,
        *,
        callback: ProgressCallback | None = None,
        stop: StopFlag | None = None,
    ) -> FerModel:
        raise NotImplementedError

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _predict_proba_fast(self, x: np.ndarray) -> np.ndarray:
        """:meth:`_predict_proba`, computed faster where the model can (networks: in bfloat16)."""
        return self._predict_proba(x)

    def predict_proba(self, x: np.ndarray, *, tta: bool = False, fast: bool = False) -> np.ndarray:
        """Class probabilities ``(n, 7)`` for uint8 faces ``(n, 48, 48)``; ``tta`` averages a mirror.

        ``fast`` lets a network compute batches in bfloat16 where the CPU does so natively (video files,
        and live frames with many faces): about 1.8x faster, and the best CNN's top emotion was the same on
        99.65 % of its validation faces (``make bench-video``). Photos and evaluation stay in float32.
        """
        x = check_faces(x)
        if len(x) == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        predict = self._predict_proba_fast if fast else self._predict_proba
        proba = predict(x)
        if tta:
            proba = 0.5 * (proba + predict(flip_faces(x)))
        if self.temperature != 1.0:
            proba = apply_temperature(proba, self.temperature)
        return proba.astype(np.float32)

    def predict(self, x: np.ndarray, *, tta: bool = False) -> np.ndarray:
        """Predicted class indices ``(n,)``."""
        return self.predict_proba(x, tta=tta).argmax(axis=1)

    def n_parameters(self) -> int:
        raise NotImplementedError

    def save(self, directory: Path) -> Path:
        raise NotImplementedError

    @classmethod
    def load(cls, spec: ModelSpec, params: Mapping[str, Any], directory: Path) -> FerModel:
        raise NotImplementedError


def reject_unknown_params(params: Mapping[str, Any] | None, specs: list[ModelSpec]) -> None:
    """The one check of parameter names: each must be in the schema of at least one of ``specs``."""
    valid = set().union(*(spec.default_params for spec in specs))
    unknown = set(params or {}) - valid
    if unknown:
        models = ", ".join(spec.name for spec in specs)
        raise ValueError(
            f"Unknown parameter(s) for {models}: {', '.join(sorted(unknown))}. Valid: {', '.join(sorted(valid))}."
        )


def with_flips(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training set doubled with mirrored faces (a classic, cheap augmentation)."""
    return np.concatenate([x, flip_faces(x)]), np.concatenate([y, y])


def params_to_json(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters made JSON-safe (tuples to lists)."""
    return json.loads(json.dumps(dict(params), default=list))
