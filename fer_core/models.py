"""The model registry: six models behind one fit / predict_proba contract.

Each :class:`ModelSpec` holds a model's family, input kind, builder, default parameters and
display name. :func:`create_model` turns a name into a :class:`FerModel`; every model takes uint8
faces ``(n, 48, 48)`` and applies its own preprocessing, so callers never preprocess by hand.
Keras is imported lazily: importing this module stays fast.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from fer_core.constants import EMOTIONS, NUM_CLASSES, SEED
from fer_core.errors import ModelNotFoundError
from fer_core.preprocessing import INPUT_SHAPES, InputKind, check_faces, flip_faces, hog_features, prepare
from fer_core.progress import ProgressCallback, ProgressEvent, StopFlag, emit

Family = Literal["sklearn", "keras"]


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to build, train and describe one registered model."""

    name: str
    display_name: str
    family: Family
    input_kind: InputKind
    builder: Callable[[dict[str, Any]], Any]
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


# --------------------------------------------------------------------------------------------
# Shared model interface
# --------------------------------------------------------------------------------------------


class FerModel:
    """scikit-learn-style contract shared by every model: ``fit`` returns self, ``predict_proba``."""

    def __init__(self, spec: ModelSpec, params: Mapping[str, Any] | None = None) -> None:
        unknown = set(params or {}) - set(spec.default_params)
        if unknown:
            raise ValueError(
                f"Unknown parameter(s) for {spec.name}: {', '.join(sorted(unknown))}. "
                f"Valid: {', '.join(sorted(spec.default_params))}."
            )
        self.spec = spec
        self.params: dict[str, Any] = {**spec.default_params, **(params or {})}
        given = params or {}
        if "ensemble_epochs" in spec.default_params and "epochs" in given and "ensemble_epochs" not in given:
            # An explicit epoch count means one network trained that long.
            self.params["ensemble_epochs"] = [int(self.params["epochs"])]
        self.history_: dict[str, list[float]] = {}
        self.member_histories_: list[dict[str, list[float]]] = []
        self.stopped_early_ = False

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

    def predict_proba(self, x: np.ndarray, *, tta: bool = False) -> np.ndarray:
        """Class probabilities ``(n, 7)`` for uint8 faces ``(n, 48, 48)``; ``tta`` averages a mirror."""
        x = check_faces(x)
        if len(x) == 0:
            return np.zeros((0, NUM_CLASSES), dtype=np.float32)
        proba = self._predict_proba(x)
        if tta:
            proba = 0.5 * (proba + self._predict_proba(flip_faces(x)))
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


def _with_flips(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training set doubled with mirrored faces (a classic, cheap augmentation)."""
    return np.concatenate([x, flip_faces(x)]), np.concatenate([y, y])


# --------------------------------------------------------------------------------------------
# scikit-learn models
# --------------------------------------------------------------------------------------------


class SklearnModel(FerModel):
    """Logistic regression or random forest, trained in chunks so progress can be reported."""

    estimator_: Any

    def fit(self, x, y, x_val=None, y_val=None, *, callback=None, stop=None):  # type: ignore[override]
        x = check_faces(x)
        if self.params.get("flip_augment"):
            x, y = _with_flips(x, y)
        features = self.features(x)
        self.estimator_ = self.spec.builder(self.params)
        if self.spec.name == "random_forest":
            self._fit_forest(features, y, callback, stop)
            self.estimator_.n_jobs = 1  # predicting a few faces is faster without a process pool
        else:
            self._fit_logreg(features, y, callback, stop)
        if x_val is not None and y_val is not None:
            self.history_ = {"val_accuracy": [float((self.predict(x_val) == y_val).mean())]}
        return self

    def _fit_forest(self, features, y, callback, stop) -> None:
        forest = self.estimator_
        total = int(self.params["n_estimators"])
        chunk = max(1, total // 20)
        built = 0
        while built < total:
            if stop is not None and stop.is_set() and built > 0:
                self.stopped_early_ = True
                break
            built = min(total, built + chunk)
            forest.set_params(n_estimators=built)
            forest.fit(features, y)
            emit(callback, ProgressEvent("step", self.name, step=built, steps=total, message=f"{built}/{total} trees"))

    def _fit_logreg(self, features, y, callback, stop) -> None:
        from sklearn.exceptions import ConvergenceWarning

        pipeline = self.estimator_
        components = min(int(self.params["pca_components"]), features.shape[0], features.shape[1])
        if "pca" in pipeline.named_steps and components != int(self.params["pca_components"]):
            # A small training subset cannot support more components than it has images.
            self.params["pca_components"] = components
            pipeline.set_params(pca__n_components=components)
        step = "Standardising and fitting PCA" if "pca" in pipeline.named_steps else "Standardising the features"
        emit(callback, ProgressEvent("message", self.name, message=step))
        reduced = pipeline[:-1].fit_transform(features)
        classifier = pipeline[-1]
        total = int(self.params["max_iter"])
        chunk = 25
        done = 0
        while done < total:
            if stop is not None and stop.is_set() and done > 0:
                self.stopped_early_ = True
                break
            step = min(chunk, total - done)
            classifier.set_params(max_iter=step)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                classifier.fit(reduced, y)
            done += step
            emit(
                callback, ProgressEvent("step", self.name, step=done, steps=total, message=f"{done}/{total} iterations")
            )
            if int(np.max(classifier.n_iter_)) < step:  # converged inside this chunk
                emit(callback, ProgressEvent("step", self.name, step=total, steps=total, message="converged"))
                break

    def features(self, x: np.ndarray) -> np.ndarray:
        """The model's input features for uint8 faces: pixels (and HOG where used), after its preprocessing."""
        features = prepare(x, self.spec.input_kind)  # (n, 2304)
        if self.params.get("per_image_norm"):
            # Remove each face's own brightness and contrast: lighting says little about emotion.
            mean = features.mean(axis=1, keepdims=True)
            std = features.std(axis=1, keepdims=True)
            features = (features - mean) / np.maximum(std, 1e-3)
        kind = self.params.get("features", "pixels")
        if kind == "hog+pixels":
            features = np.hstack([hog_features(x), features])  # (n, 900 + 2304); pixels stay last
        elif kind != "pixels":
            raise ValueError(f"Unknown features {kind!r}: use 'pixels' or 'hog+pixels'.")
        return features

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.estimator_.predict_proba(self.features(x))

    def n_parameters(self) -> int:
        if self.spec.name == "random_forest":
            return int(sum(tree.tree_.node_count for tree in self.estimator_.estimators_))
        steps = self.estimator_.named_steps
        pca_size = steps["pca"].components_.size if "pca" in steps else 0
        return int(pca_size + steps["clf"].coef_.size + steps["clf"].intercept_.size)

    def save(self, directory: Path) -> Path:
        import joblib

        from fer_core.compact_forest import pack_forest

        path = Path(directory) / self.spec.file_name
        # A forest is stored column-wise: identical predictions in a half to a fifth of a pickled file.
        stored = pack_forest(self.estimator_) if self.spec.name == "random_forest" else self.estimator_
        joblib.dump(stored, path, compress=("xz", 6))
        return path

    @classmethod
    def load(cls, spec: ModelSpec, params: Mapping[str, Any], directory: Path) -> SklearnModel:
        import joblib

        saved = {**spec.legacy_params, **params}
        model = cls(spec, {k: v for k, v in saved.items() if k in spec.default_params})
        from fer_core.compact_forest import is_packed_forest, unpack_forest

        stored = joblib.load(Path(directory) / spec.file_name)
        model.estimator_ = unpack_forest(stored) if is_packed_forest(stored) else stored  # older forests: pickled
        if hasattr(model.estimator_, "n_jobs"):
            model.estimator_.n_jobs = 1  # prediction on a few faces is faster without a process pool
        return model


def _build_logreg(params: dict[str, Any]) -> Any:
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    steps: list[tuple[str, Any]] = [("scale", StandardScaler())]
    if int(params["pca_components"]) > 0:
        components, whiten = int(params["pca_components"]), bool(params["whiten"])
        steps.append(("pca", PCA(n_components=components, whiten=whiten, random_state=params["seed"])))
    steps.append(("clf", LogisticRegression(C=float(params["C"]), warm_start=True, max_iter=25)))
    return Pipeline(steps)


def _build_forest(params: dict[str, Any]) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=int(params["n_estimators"]),
        max_depth=params["max_depth"],
        min_samples_leaf=int(params["min_samples_leaf"]),
        max_features=params["max_features"],
        class_weight=params["class_weight"],
        warm_start=True,
        n_jobs=-1,
        random_state=params["seed"],
    )


# --------------------------------------------------------------------------------------------
# Keras models
# --------------------------------------------------------------------------------------------


def _keras():  # noqa: ANN202 - the module itself
    import keras

    return keras


def augment_batch(x: np.ndarray, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    """Random horizontal flip and shift of a float batch ``(b, 48, 48)`` (vectorised, copy).

    Shift is pad-by-reflection + random crop, the classic cheap FER augmentation; it runs in NumPy
    on whole batches, which is far cheaper on a CPU than in-graph affine transforms.
    """
    out = np.array(x, copy=True)
    size = out.shape[1]
    if params.get("flip", True):
        flip = rng.random(len(out)) < 0.5
        out[flip] = out[flip, :, ::-1]
    pad = int(round(float(params.get("shift", 0.0)) * size))
    if pad > 0:
        padded = np.pad(out, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
        offsets = rng.integers(0, 2 * pad + 1, size=(len(out), 2))
        rows = offsets[:, 0, None] + np.arange(size)  # (b, 48)
        cols = offsets[:, 1, None] + np.arange(size)
        out = padded[np.arange(len(out))[:, None, None], rows[:, :, None], cols[:, None, :]]
    return out


def _batches(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, params: Mapping[str, Any]) -> Any:
    """A Keras PyDataset of shuffled, augmented batches (works on every Keras backend)."""
    keras = _keras()

    class AugmentedBatches(keras.utils.PyDataset):
        def __init__(self) -> None:
            super().__init__()
            self.batch_size = int(params["batch_size"])
            self.rng = np.random.default_rng(int(params["seed"]))
            self.order = self.rng.permutation(len(x))

        def __len__(self) -> int:
            return int(np.ceil(len(x) / self.batch_size))

        def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
            idx = self.order[index * self.batch_size : (index + 1) * self.batch_size]
            xb = x[idx]
            if params.get("augment"):
                shape = xb.shape
                xb = augment_batch(xb.reshape(len(xb), 48, 48), params, self.rng).reshape(shape)
            if weights is None:
                return xb, y[idx]
            return xb, y[idx], weights[idx]

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(x))

    return AugmentedBatches()


def _image_input(params: dict[str, Any], kind: InputKind) -> tuple[Any, Any]:
    """Model input for ``kind`` plus a centred ``(48, 48, 1)`` view of it."""
    layers = _keras().layers
    inputs = layers.Input(shape=INPUT_SHAPES[kind], name="face")
    x = inputs if kind == "image" else layers.Reshape((48, 48, 1))(inputs)
    x = layers.Rescaling(scale=4.0, offset=-2.0)(x)  # [0, 1] -> [-2, 2], roughly zero-mean
    return inputs, x


def _build_mlp(params: dict[str, Any]) -> Any:
    keras = _keras()
    layers = keras.layers
    inputs, x = _image_input(params, "flat")
    x = layers.Flatten()(x)
    features = params.get("features", "pixels")
    if features == "hog+pixels":
        from fer_core.keras_layers import HogFeatures

        hog = HogFeatures(name="hog")(layers.Reshape((48, 48, 1))(inputs))  # (b, 900) edge directions
        hog = layers.BatchNormalization(momentum=0.9, name="hog_scale")(hog)  # learned standardisation
        x = layers.Concatenate()([hog, x])
    elif features != "pixels":
        raise ValueError(f"Unknown features {features!r}: use 'pixels' or 'hog+pixels'.")
    for units in params["hidden_units"]:
        x = layers.Dense(units, use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
        x = layers.Dropout(float(params["dropout"]))(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="mlp")


def _build_lstm(params: dict[str, Any]) -> Any:
    keras = _keras()
    layers = keras.layers
    inputs, x = _image_input(params, "rows")
    x = layers.Reshape((48, 48))(x)  # 48 time steps (rows) of 48 pixels
    n_layers = int(params["lstm_layers"])
    for i in range(n_layers):
        lstm = layers.LSTM(int(params["units"]), return_sequences=i < n_layers - 1)
        x = layers.Bidirectional(lstm)(x) if params["bidirectional"] else lstm(x)
        x = layers.Dropout(float(params["dropout"]))(x)
    x = layers.Dense(int(params["dense_units"]), activation="relu")(x)
    x = layers.Dropout(float(params["dropout"]))(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="lstm")


def _build_cnn_basic(params: dict[str, Any]) -> Any:
    """The seed notebook's first CNN: Conv 32/64/128 + BN + pooling, Dense 128, Dropout 0.4."""
    keras = _keras()
    layers = keras.layers
    inputs, x = _image_input(params, "image")
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        # momentum 0.9 (Keras' default is 0.99) so short runs get usable moving statistics.
        x = layers.BatchNormalization(momentum=0.9)(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(128, activation="relu")(x)
    x = layers.Dropout(0.4)(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="cnn_basic")


def _build_cnn(params: dict[str, Any]) -> Any:
    """The best CNN: one VGG-style net, or an average of several (``ensemble_epochs``)."""
    members = list(params.get("ensemble_epochs") or [])
    if len(members) <= 1:
        return _build_cnn_single(params, "cnn")
    keras = _keras()
    inputs = keras.layers.Input(shape=INPUT_SHAPES["image"], name="face")
    outputs = [_build_cnn_single(params, f"cnn_member_{i}")(inputs) for i in range(len(members))]
    return keras.Model(inputs, keras.layers.Average()(outputs), name="cnn_ensemble")


def _build_cnn_single(params: dict[str, Any], name: str) -> Any:
    """VGG-style: stages of 3x3 conv + BN + ReLU, max-pool, global average pooling, dropout."""
    keras = _keras()
    layers = keras.layers
    l2 = keras.regularizers.L2(float(params["l2"])) if params["l2"] else None
    inputs, x = _image_input(params, "image")
    for width in params["widths"]:
        for _ in range(int(params["convs_per_stage"])):
            x = layers.Conv2D(int(width), 3, padding="same", use_bias=False, kernel_regularizer=l2)(x)
            x = layers.BatchNormalization(momentum=0.9)(x)
            x = layers.Activation("relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(float(params["dropout"]))(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax", kernel_regularizer=l2, dtype="float32")(x)
    return keras.Model(inputs, outputs, name=name)


def deflate_keras_file(source: Path, target: Path) -> None:
    """Copy a ``.keras`` archive with its members deflated (Keras stores them; ~9 % smaller)."""
    import zipfile

    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info.filename))


class KerasModel(FerModel):
    """A Keras network wrapped to the shared contract; trains with validation-based selection."""

    model_: Any

    def _compile(self, steps_per_epoch: int) -> None:
        keras = _keras()
        p = self.params
        epochs = int(p["epochs"])
        if p["schedule"] == "cosine":
            warmup = min(int(p["warmup_epochs"]), max(0, epochs // 4)) * steps_per_epoch
            learning_rate: Any = keras.optimizers.schedules.CosineDecay(
                initial_learning_rate=float(p["learning_rate"]) * (0.01 if warmup else 1.0),
                decay_steps=max(1, epochs * steps_per_epoch - warmup),
                warmup_target=float(p["learning_rate"]) if warmup else None,
                warmup_steps=warmup,
                alpha=0.0,
            )
        else:
            learning_rate = float(p["learning_rate"])
        if p["optimizer"] == "sgd":
            optimizer = keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9, nesterov=True)
        else:
            optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        self.model_.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=float(p["label_smoothing"])),
            metrics=["accuracy"],
        )

    def _fit_ensemble(self, x, y, x_val, y_val, callback, stop) -> KerasModel:
        """Train each member (same recipe, its own epoch count) and average their outputs."""
        members: list[KerasModel] = []
        epochs_list = [int(e) for e in self.params["ensemble_epochs"]]
        for i, epochs in enumerate(epochs_list):
            emit(callback, ProgressEvent("message", self.name, message=f"Ensemble member {i + 1}/{len(epochs_list)}"))
            # Members differ by their epoch count; a repeated count gets a new seed so it is not a copy.
            seed = int(self.params["seed"]) + epochs_list[:i].count(epochs)
            member = KerasModel(self.spec, {**self.params, "ensemble_epochs": [epochs], "epochs": epochs, "seed": seed})
            members.append(member.fit(x, y, x_val, y_val, callback=callback, stop=stop))
            if member.stopped_early_:
                self.stopped_early_ = True
                break
        self.compose(members)
        return self

    def compose(self, members: list[KerasModel]) -> None:
        """Become the average of trained single-network ``members``."""
        self.params["ensemble_epochs"] = [int(m.params["epochs"]) for m in members]
        self.params["epochs"] = int(members[0].params["epochs"])
        if len(members) == 1:
            self.model_ = members[0].model_
        else:
            self.model_ = self.spec.builder(self.params)
            for i, member in enumerate(members):
                self.model_.get_layer(f"cnn_member_{i}").set_weights(member.model_.get_weights())
        self.history_ = members[0].history_
        self.member_histories_ = [m.history_ for m in members]

    def fit(self, x, y, x_val=None, y_val=None, *, callback=None, stop=None):  # type: ignore[override]
        if len(self.params.get("ensemble_epochs") or []) > 1:
            return self._fit_ensemble(x, y, x_val, y_val, callback, stop)
        keras = _keras()
        p = self.params
        keras.utils.set_random_seed(int(p["seed"]))
        self.model_ = self.spec.builder(p)
        x_in = prepare(x, self.spec.input_kind)
        y_in = np.eye(NUM_CLASSES, dtype=np.float32)[y]
        batch_size = int(p["batch_size"])
        steps = int(np.ceil(len(x_in) / batch_size))
        self._compile(steps)
        validation = None
        if x_val is not None and y_val is not None and len(y_val):
            validation = (prepare(x_val, self.spec.input_kind), np.eye(NUM_CLASSES, dtype=np.float32)[y_val])
        sample_weights = None
        if p.get("class_weight") == "balanced":
            counts = np.bincount(y, minlength=NUM_CLASSES).astype(np.float64)
            per_class = len(y) / (NUM_CLASSES * np.maximum(counts, 1))
            sample_weights = per_class[y].astype(np.float32)
        from fer_core.training import keras_callbacks  # local import: avoids a cycle

        callbacks = keras_callbacks(self, callback, stop, steps, has_validation=validation is not None)
        self.model_.fit(
            _batches(x_in, y_in, sample_weights, p),
            epochs=int(p["epochs"]),
            validation_data=validation,
            validation_batch_size=512,
            callbacks=callbacks,
            verbose=0,
        )
        return self

    def _inference_fn(self) -> Callable[[np.ndarray], Any]:
        """A compiled forward pass (eager Keras calls rebuild work per call; this does not)."""
        fn = getattr(self, "_infer", None)
        if fn is not None and getattr(self, "_infer_for", None) is self.model_:
            return fn
        keras = _keras()
        model = self.model_
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            signature = [tf.TensorSpec((None, *self.spec.input_shape), tf.float32)]
            fn = tf.function(lambda batch: model(batch, training=False), input_signature=signature)
        else:

            def fn(batch: np.ndarray) -> Any:
                return model.predict(batch, batch_size=512, verbose=0)

        self._infer, self._infer_for = fn, model
        return fn

    def _predict_proba(self, x: np.ndarray) -> np.ndarray:
        keras = _keras()
        inputs = prepare(x, self.spec.input_kind)
        infer = self._inference_fn()
        out = []
        for start in range(0, len(inputs), 512):
            batch = inputs[start : start + 512]
            out.append(keras.ops.convert_to_numpy(infer(batch)))
        return np.concatenate(out).astype(np.float32)

    def n_parameters(self) -> int:
        return int(self.model_.count_params())

    def save(self, directory: Path) -> Path:
        """Save the network without optimizer state (a third of the size, all that inference needs)."""
        path = Path(directory) / self.spec.file_name
        clean = self.spec.builder(self.params)
        clean.set_weights(self.model_.get_weights())
        stored = path.with_suffix(".stored.keras")
        clean.save(stored)
        deflate_keras_file(stored, path)
        stored.unlink()
        return path

    @classmethod
    def load(cls, spec: ModelSpec, params: Mapping[str, Any], directory: Path) -> KerasModel:
        keras = _keras()
        saved = {**spec.legacy_params, **params}
        model = cls(spec, {k: v for k, v in saved.items() if k in spec.default_params})
        import fer_core.keras_layers  # noqa: F401 - registers the custom layers before loading

        model.model_ = keras.saving.load_model(Path(directory) / spec.file_name, compile=False, safe_mode=True)
        return model


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------

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
}

REGISTRY: dict[str, ModelSpec] = {
    "logreg": ModelSpec(
        name="logreg",
        display_name="Logistic regression",
        family="sklearn",
        input_kind="flat",
        builder=_build_logreg,
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
        builder=_build_forest,
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
        builder=_build_mlp,
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
        builder=_build_lstm,
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
        builder=_build_cnn_basic,
        default_params={**_KERAS_COMMON, "epochs": 30, "batch_size": 64, "augment": False, "patience": 5},
        description="The seed notebook's first CNN: Conv 32/64/128 + BatchNorm + pooling, Dense 128, Dropout 0.4.",
    ),
    "cnn": ModelSpec(
        name="cnn",
        display_name="Best CNN",
        family="keras",
        input_kind="image",
        builder=_build_cnn,
        default_params={
            **_KERAS_COMMON,
            "widths": [32, 64, 128, 256],
            "convs_per_stage": 2,
            "dropout": 0.4,
            "l2": 5e-4,
            "epochs": 60,
            "ensemble_epochs": [60, 40],
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
        },
        description="Average of two VGG-style CNNs (4 stages, BatchNorm, global average pooling; 60 and 40 "
        "epochs) trained with SGD-Nesterov, warm-up + cosine decay, label smoothing and shift/flip augmentation.",
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


def create_model(name: str, **params: Any) -> FerModel:
    """A fresh, untrained model from the registry, with ``params`` overriding its defaults."""
    spec = get_spec(name)
    cls = KerasModel if spec.family == "keras" else SklearnModel
    return cls(spec, params)


def load_model_from_dir(directory: Path, params: Mapping[str, Any], name: str) -> FerModel:
    """Rebuild a trained model from its directory (see :mod:`fer_core.artifacts`)."""
    spec = get_spec(name)
    cls = KerasModel if spec.family == "keras" else SklearnModel
    return cls.load(spec, params, directory)


def params_to_json(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters made JSON-safe (tuples to lists)."""
    return json.loads(json.dumps(dict(params), default=list))


def class_names() -> list[str]:
    return list(EMOTIONS)
