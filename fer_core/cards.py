"""Model cards: the typed, validated form of each model's ``card.json``, and the set of cards in a models folder.

A card describes its model completely (nanoGPT's self-describing checkpoint, in JSON): the
parameters that rebuild it, the class order, the preprocessing, the test metrics, the training
history, the library versions and the data fingerprint. :class:`ModelCard` reads, validates and
writes that file; keys it does not know (experiments and notes written by tools) are kept verbatim
in ``extra`` and the file's key order is kept, so a card read and written again keeps all it had (a
sparse card gains the empty defaults of the fields it lacked), and cards from older versions still load.

:class:`ModelCards` is every registered model's card in one models folder, or the reason a model is
unavailable. It owns the three questions the CLI and the pages ask: is a model trained, which is the
best one, and what is its headline accuracy.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from fer_core.calibration import Calibration
from fer_core.errors import ModelNotFoundError
from fer_core.models import REGISTRY

#: The default models for photos, best first, by measured accuracy on real photos (not on FER2013's
#: test split): on the 56 labelled photos of ``realfaces/`` (MTCNN, aligned crops, largest face) the
#: FER2013-label ``cnn`` is right on 50 and the FER+-label ``cnn_ferplus`` on 46 (``make bench-accuracy``).
REAL_PHOTO_ORDER = ("cnn", "cnn_ferplus")
#: The label sets a model can be trained on (see :mod:`fer_core.ferplus`).
LABEL_SETS = ("fer2013", "ferplus")


@dataclass
class ModelCard:
    """One trained model's card (``card.json``); see :meth:`from_dict` for what is checked."""

    name: str
    display_name: str = ""
    family: str = ""
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    preprocessing: dict[str, Any] = field(default_factory=dict)
    protocol: str = ""
    n_train: int | None = None
    n_validation: int | None = None
    epochs_run: int | None = None
    stopped_early: bool = False
    training_seconds: float | None = None
    n_parameters: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    #: Whether the headline numbers use horizontal-flip test-time augmentation.
    headline_tta: bool = False
    test_accuracy: float | None = None
    test_macro_f1: float | None = None
    test_metrics: dict[str, Any] | None = None
    test_metrics_tta: dict[str, Any] | None = None
    inference: dict[str, float] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    data_fingerprint: str = ""
    created: str = ""
    validation_accuracy: float | None = None
    #: The training-subset size asked for (None: all of train).
    limit: int | None = None
    #: The random forest's pixel importances ``(48, 48)``, scaled to a maximum of 1.
    feature_importance: list[list[float]] | None = None
    #: Each member's training history, for an averaged ensemble.
    member_histories: list[dict[str, list[float]]] | None = None
    #: Accuracy against the FER+ crowd majority on the test split (see :mod:`fer_core.ferplus`):
    #: ``{"n", "accuracy", "fer2013_label_agreement", "tta", "credit"}``.
    ferplus_test: dict[str, Any] | None = None
    #: Temperature scaling fitted on validation, the "not sure" threshold and the test ECE before and
    #: after (see :class:`fer_core.calibration.Calibration`).
    calibration: dict[str, Any] | None = None
    #: Which labels the model learned from: ``"fer2013"`` (one label per face; also when absent) or ``"ferplus"``.
    labels: str | None = None
    #: The model file's name and size, filled in when the artifact is written.
    file: str | None = None
    file_size_bytes: int | None = None
    #: Every other key of the JSON (experiments, selection notes), kept as it was.
    extra: dict[str, Any] = field(default_factory=dict)
    #: The key order of the file it was read from, so a rewritten card differs only where it changed.
    key_order: tuple[str, ...] = field(default=(), repr=False, compare=False)

    # ---- reading and writing -----------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "The model card") -> ModelCard:
        """A card from parsed JSON; a card that is not an object, names no registered model or has a
        field of the wrong type raises :class:`ModelNotFoundError` naming ``source``."""
        if not isinstance(data, Mapping) or data.get("name") not in REGISTRY:
            raise ModelNotFoundError(f"{source} does not describe a registered model.")
        known = {f.name for f in dataclasses.fields(cls)} - {"extra", "key_order"}
        values = {key: value for key, value in data.items() if key in known}
        extra = {key: value for key, value in data.items() if key not in known}
        for key, value in values.items():
            expected = _FIELD_TYPES[key]
            # JSON's true/false must not pass for a number (bool is a subclass of int in Python).
            wrong_bool = isinstance(value, bool) and expected is not bool
            if value is not None and (wrong_bool or not isinstance(value, expected)):
                raise ModelNotFoundError(f"{source} is unreadable: its {key!r} is not {_TYPE_WORDS[expected]}.")
        if values.get("calibration") is not None:
            try:
                Calibration.from_dict(values["calibration"])
            except (KeyError, TypeError, ValueError) as exc:
                raise ModelNotFoundError(f"{source} is unreadable: its calibration is malformed ({exc}).") from None
        if values.get("labels", "fer2013") not in (*LABEL_SETS, None):
            raise ModelNotFoundError(f"{source} is unreadable: its labels must be one of {', '.join(LABEL_SETS)}.")
        return cls(**values, extra=extra, key_order=tuple(data))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object: the keys of the file it came from in their order, then new ones (fields, then extra)."""
        fields = [f.name for f in dataclasses.fields(self) if f.name not in ("extra", "key_order")]
        data = {key: getattr(self, key) for key in fields}
        data = {key: value for key, value in data.items() if value is not None or key in _ALWAYS_WRITTEN}
        data.update(self.extra)
        first = [key for key in self.key_order if key in data]
        return {key: data[key] for key in [*first, *(key for key in data if key not in self.key_order)]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1) + "\n"

    # ---- what the app asks of a card ---------------------------------------------------------

    @property
    def title(self) -> str:
        """The name people read (the registry's display name if the card has none)."""
        return self.display_name or REGISTRY[self.name].display_name

    @property
    def evaluated(self) -> bool:
        """Whether the card has test-split numbers (a model trained without them has none)."""
        return self.test_metrics is not None and self.test_accuracy is not None

    @property
    def headline_metrics(self) -> dict[str, Any]:
        """The test metrics behind the headline accuracy (with flip TTA where the card uses it)."""
        if self.headline_tta and self.test_metrics_tta:
            return self.test_metrics_tta
        if self.test_metrics is None:
            raise ValueError(f"The {self.title} model was not evaluated on the test split.")
        return self.test_metrics

    @property
    def ferplus_accuracy(self) -> float | None:
        """Accuracy against the FER+ crowd majority on the test split, if measured."""
        value = (self.ferplus_test or {}).get("accuracy")
        return float(value) if isinstance(value, (int, float)) else None

    @property
    def headline_accuracy(self) -> float | None:
        """The test accuracy the app shows for this model (None when it was not evaluated)."""
        return float(self.test_accuracy) if self.test_accuracy is not None else None

    @property
    def label_set(self) -> str:
        """``"fer2013"`` or ``"ferplus"``: the labels the model learned from."""
        return self.labels or "fer2013"

    @property
    def calibrated(self) -> Calibration | None:
        """The card's calibration, if it has one."""
        return Calibration.from_dict(self.calibration) if self.calibration else None

    @property
    def temperature(self) -> float:
        """The temperature its probabilities are scaled by (1.0 when not calibrated)."""
        calibration = self.calibrated
        return calibration.temperature if calibration else 1.0

    @property
    def not_sure_below(self) -> float:
        """The top probability under which its answer is marked "not sure" (0.0 when not calibrated)."""
        calibration = self.calibrated
        return calibration.not_sure_below if calibration else 0.0

    def with_file(self, file: str, size_bytes: int) -> ModelCard:
        """A copy naming its model file."""
        return dataclasses.replace(self, file=file, file_size_bytes=size_bytes)


#: The JSON type each field must have (None is always allowed except for ``name``).
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "display_name": str,
    "family": str,
    "description": str,
    "params": dict,
    "classes": list,
    "preprocessing": dict,
    "protocol": str,
    "n_train": int,
    "n_validation": int,
    "epochs_run": int,
    "stopped_early": bool,
    "training_seconds": (int, float),
    "n_parameters": int,
    "history": dict,
    "headline_tta": bool,
    "test_accuracy": (int, float),
    "test_macro_f1": (int, float),
    "test_metrics": dict,
    "test_metrics_tta": dict,
    "inference": dict,
    "versions": dict,
    "machine": dict,
    "data_fingerprint": str,
    "created": str,
    "validation_accuracy": (int, float),
    "limit": int,
    "feature_importance": list,
    "member_histories": list,
    "ferplus_test": dict,
    "calibration": dict,
    "labels": str,
    "file": str,
    "file_size_bytes": int,
}
_TYPE_WORDS: dict[type | tuple[type, ...], str] = {
    str: "text",
    dict: "an object",
    list: "a list",
    int: "a whole number",
    bool: "true or false",
    (int, float): "a number",
}
#: Fields written even when None, as cards always had them (``"limit": null`` means all of train).
_ALWAYS_WRITTEN = frozenset(
    {"epochs_run", "test_accuracy", "test_macro_f1", "test_metrics", "test_metrics_tta", "inference", "limit"}
)


@dataclass(frozen=True)
class ModelCards:
    """Every registered model in one models folder: its card, or why it cannot be used (registry order)."""

    cards: dict[str, ModelCard]
    errors: dict[str, str]

    def __iter__(self) -> Iterator[str]:
        return iter(name for name in REGISTRY if name in self.cards or name in self.errors)

    def is_trained(self, name: str) -> bool:
        """Whether ``name`` has a readable card and a model file."""
        return name in self.cards

    @property
    def trained(self) -> list[str]:
        """Names of the usable models, in registry order."""
        return [name for name in REGISTRY if name in self.cards]

    @property
    def evaluated(self) -> dict[str, ModelCard]:
        """The usable models that have test-split numbers (what the comparison shows), in registry order."""
        return {name: self.cards[name] for name in self.trained if self.cards[name].evaluated}

    @property
    def missing(self) -> dict[str, str]:
        """Unusable models and the reason for each, in registry order."""
        return {name: self.errors[name] for name in REGISTRY if name in self.errors}

    def best(self, among: Iterable[str] | None = None) -> str | None:
        """The trained model (of ``among``, if given) with the highest headline accuracy.

        Models without test numbers count only when none has any (then the first of them); None when
        no model is trained.
        """
        names = [name for name in (among if among is not None else self.trained) if name in self.cards]
        scored = [(self.cards[name].headline_accuracy, name) for name in names]
        scored = [(accuracy, name) for accuracy, name in scored if accuracy is not None]
        if not scored:
            return names[0] if names else None
        return max(scored, key=lambda pair: pair[0])[1]

    def photo_model(self) -> str | None:
        """The default model for photos (the detector page, ``predict``): the first trained of
        :data:`REAL_PHOTO_ORDER`, else the most accurate image CNN, else the best model.

        CNNs see faces as images, so they have Grad-CAM explanations and hold up best on real photos.
        """
        preferred = next((name for name in REAL_PHOTO_ORDER if self.is_trained(name)), None)
        image_models = [name for name in self.trained if REGISTRY[name].input_kind == "image"]
        return preferred or self.best(among=image_models) or self.best()

    def headline_accuracy(self, name: str) -> float | None:
        """A trained model's headline test accuracy (None when untrained or not evaluated)."""
        card = self.cards.get(name)
        return card.headline_accuracy if card else None
