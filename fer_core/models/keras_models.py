"""The Keras family: a network wrapped to the shared contract, and its training loop.

:class:`KerasModel` trains any network from :mod:`fer_core.models.networks` on augmented batches
(:func:`training_batches`), reports progress and honours stop requests through
:func:`keras_callbacks`, keeps the best weights on validation, and saves a compact ``.keras`` file
without optimizer state. Keras is imported when first used, so importing the registry stays fast.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fer_core.constants import NUM_CLASSES
from fer_core.errors import FerError
from fer_core.models.augment import photo_augment
from fer_core.models.base import FerModel, ModelSpec
from fer_core.models.networks import BUILD_LOCK, keras_module
from fer_core.preprocessing import prepare
from fer_core.progress import ProgressCallback, ProgressEvent, StopFlag, emit


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


def training_batches(x: np.ndarray, y: np.ndarray, weights: np.ndarray | None, params: Mapping[str, Any]) -> Any:
    """A Keras PyDataset of shuffled, augmented batches (works on every Keras backend)."""
    keras = keras_module()

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
            if params.get("augment") == "photo":
                shape = xb.shape
                xb = photo_augment(xb.reshape(len(xb), 48, 48), {}, self.rng).reshape(shape)
            elif params.get("augment"):
                shape = xb.shape
                xb = augment_batch(xb.reshape(len(xb), 48, 48), params, self.rng).reshape(shape)
            if weights is None:
                return xb, y[idx]
            return xb, y[idx], weights[idx]

        def on_epoch_end(self) -> None:
            self.order = self.rng.permutation(len(x))

    return AugmentedBatches()


def keras_callbacks(
    model: FerModel,
    callback: ProgressCallback | None,
    stop: StopFlag | None,
    steps_per_epoch: int,
    *,
    has_validation: bool,
) -> list[Any]:
    """Keras callbacks: progress events, stop-at-next-batch, best-weights keeping, early stopping."""
    keras = keras_module()
    params = model.params
    epochs = int(params["epochs"])

    class Progress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.best: float = -np.inf
            self.best_weights: list[Any] | None = None
            self.started = 0.0

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            self.started = time.perf_counter()
            emit(callback, ProgressEvent("start", model.name, epochs=epochs, batches=steps_per_epoch))

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch = epoch + 1

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            emit(
                callback,
                ProgressEvent(
                    "batch",
                    model.name,
                    epoch=self.epoch,
                    epochs=epochs,
                    batch=batch + 1,
                    batches=steps_per_epoch,
                    logs={k: float(v) for k, v in (logs or {}).items()},
                ),
            )
            if stop is not None and stop.is_set():
                model.stopped_early_ = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = {k: float(v) for k, v in (logs or {}).items()}
            for key, value in logs.items():
                model.history_.setdefault(key, []).append(value)
            monitor = logs.get("val_accuracy", logs.get("accuracy", 0.0))
            if monitor > self.best:
                self.best = monitor
                # Kept for restore_best, and whenever a Stop may come: a stopped run keeps its best epoch.
                if params.get("restore_best") or stop is not None:
                    self.best_weights = self.model.get_weights()
            if model.checkpoint_dir_ is not None and not model.stopped_early_:  # a stopped epoch is not whole
                save_checkpoint(self.model, Path(model.checkpoint_dir_), epoch + 1, model.history_, model.run_)
            emit(
                callback,
                ProgressEvent(
                    "epoch",
                    model.name,
                    epoch=epoch + 1,
                    epochs=epochs,
                    batch=steps_per_epoch,
                    batches=steps_per_epoch,
                    logs=logs,
                ),
            )

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            # A recipe without restore_best (a decaying schedule's last epoch is its result) keeps its
            # last weights when it runs to the end; stopped early, it keeps the best epoch seen.
            if self.best_weights is not None and (
                params.get("restore_best") or getattr(model, "stopped_early_", False)
            ):
                self.model.set_weights(self.best_weights)
            emit(callback, ProgressEvent("end", model.name, epoch=self.epoch, epochs=epochs))

    callbacks: list[Any] = [Progress()]
    patience = int(params.get("patience") or 0)
    if patience and has_validation:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", patience=patience, mode="max"))
    return callbacks


CHECKPOINT_FILE = "checkpoint.keras"
CHECKPOINT_STATE = "state.json"


def save_checkpoint(
    network: Any, directory: Path, epoch: int, history: Mapping[str, list[float]], run: Mapping[str, Any]
) -> None:
    """Save the network with its optimizer state after ``epoch`` (atomically: a crash keeps the last one).

    ``run`` identifies the run (its parameters and data sizes): only the same run may resume from it.
    """
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"partial-{CHECKPOINT_FILE}"
    network.save(partial)
    os.replace(partial, directory / CHECKPOINT_FILE)
    state = {
        "epoch": epoch,
        "history": {k: list(v) for k, v in history.items()},
        "run": dict(run),
        "saved": time.time(),
    }
    (directory / CHECKPOINT_STATE).write_text(json.dumps(state) + "\n")


def load_checkpoint(directory: Path, run: Mapping[str, Any]) -> tuple[Any, int, dict[str, list[float]]] | None:
    """The network (compiled, optimizer state included), epochs done and history saved in ``directory``.

    A checkpoint of another run (other parameters or data) is refused: its learning-rate schedule and
    epochs belong to that run.
    """
    path, state_path = directory / CHECKPOINT_FILE, directory / CHECKPOINT_STATE
    if not (path.is_file() and state_path.is_file()):
        return None
    import fer_core.models.layers  # noqa: F401 - registers our layers before loading

    state = json.loads(state_path.read_text())
    if state.get("run") != json.loads(json.dumps(dict(run))):
        raise FerError(
            f"The checkpoint in {directory} was saved by a run with other settings or data; "
            "resume with the same settings, or use another checkpoint folder."
        )
    network = keras_module().saving.load_model(path, compile=True, safe_mode=True)
    return network, int(state["epoch"]), {k: list(v) for k, v in state["history"].items()}


def as_targets(y: np.ndarray) -> np.ndarray:
    """Training targets ``(n, 7)``: one-hot rows for class indices ``(n,)``, or soft labels as given."""
    y = np.asarray(y)
    if y.ndim == 2:
        return y.astype(np.float32)
    return np.eye(NUM_CLASSES, dtype=np.float32)[y]


#: Weight arrays with at least this many numbers are stored in half precision by :func:`halve_keras_file`.
HALF_PRECISION_MIN_SIZE = 4096


def halve_keras_file(path: Path) -> None:
    """Rewrite a ``.keras`` archive in place with its large weight arrays stored as float16.

    Only arrays of at least :data:`HALF_PRECISION_MIN_SIZE` numbers (convolution and dense kernels)
    are halved; small ones (BatchNorm statistics, biases) keep float32, as their tiny values lose
    too much in half precision. Keras casts the stored values back to the float32 variables on
    load, so nothing else changes: on the shipped best CNN the top emotion of every test face stays
    the same and no probability moves by more than 0.0005.
    """
    import h5py  # comes with Keras; imported here so importing the registry stays fast

    with zipfile.ZipFile(path) as archive:
        members = {info.filename: archive.read(info.filename) for info in archive.infolist()}
    source = h5py.File(io.BytesIO(members["model.weights.h5"]), "r")
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as target:

        def copy(name: str, item: Any) -> None:
            if isinstance(item, h5py.Group):
                group = target.require_group(name)
                group.attrs.update(item.attrs)
                return
            data = item[()]
            if data.dtype == np.float32 and data.size >= HALF_PRECISION_MIN_SIZE:
                data = data.astype(np.float16)
            target.create_dataset(name, data=data)
            target[name].attrs.update(item.attrs)

        target.attrs.update(source.attrs)
        source.visititems(copy)
    source.close()
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)


def deflate_keras_file(source: Path, target: Path) -> None:
    """Copy a ``.keras`` archive with its members deflated (Keras stores them; ~9 % smaller)."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in src.infolist():
            out.writestr(info.filename, src.read(info.filename))


def _member_progress(callback: ProgressCallback | None, offset: int, total: int) -> ProgressCallback | None:
    """Progress of one ensemble member as part of the whole ensemble's epochs (one bar, one time left)."""
    if callback is None:
        return None

    def forward(event: ProgressEvent) -> None:
        if event.kind in ("batch", "epoch", "start") and event.epochs:
            event = dataclasses.replace(event, epoch=event.epoch + offset, epochs=total)
        callback(event)

    return forward


def build_in_precision(builder: Callable[[dict[str, Any]], Any], params: dict[str, Any], precision: str) -> Any:
    """``builder(params)`` under the Keras dtype policy ``precision`` (float32 or mixed_bfloat16)."""
    keras = keras_module()
    with BUILD_LOCK:  # the policy is global: no other network is built meanwhile
        previous = keras.mixed_precision.global_policy().name
        keras.mixed_precision.set_global_policy(precision)
        try:
            return builder(params)
        finally:
            keras.mixed_precision.set_global_policy(previous)


#: Layers whose configured dtype is not a compute policy (inputs) or that hold other layers.
KEEP_DTYPE = ("InputLayer", "Functional", "Sequential")


def _bfloat16_config(config: Any) -> Any:
    """``config`` with every layer in mixed bfloat16 except inputs and softmax outputs (as the builders do)."""
    if isinstance(config, list):
        return [_bfloat16_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    config = {key: _bfloat16_config(value) for key, value in config.items()}
    inner = config.get("config")
    kind = config.get("class_name")
    softmax_output = kind == "Dense" and isinstance(inner, dict) and inner.get("activation") == "softmax"
    if isinstance(inner, dict) and "dtype" in inner and kind not in KEEP_DTYPE and not softmax_output:
        inner["dtype"] = "mixed_bfloat16"
    return config


def bfloat16_copy(network: Any) -> Any:
    """A copy of a float32 Keras network computing in mixed bfloat16 (softmax outputs stay float32).

    Made from the network's own configuration, so every layer keeps its name and no global Keras
    state is read or changed: Streamlit calls ``keras.backend.clear_session()`` after every script
    run, which resets the layer-name counters and dtype policy of every thread, and a network built
    on another thread meanwhile (as :func:`build_in_precision` does) fails with duplicate names.
    """
    import fer_core.models.layers  # noqa: F401 - registers our layers before deserializing

    copy = type(network).from_config(_bfloat16_config(network.get_config()))
    copy.set_weights(network.get_weights())
    return copy


_NATIVE_BF16: bool | None = None


def native_bfloat16() -> bool:
    """Whether TensorFlow computes bfloat16 natively here: an x86 CPU with AVX512-BF16 or AMX, and oneDNN on.

    Elsewhere bfloat16 is emulated and many times slower than float32, so fast inference stays float32.
    """
    global _NATIVE_BF16
    if _NATIVE_BF16 is None:
        try:
            flags = Path("/proc/cpuinfo").read_text().split()
        except OSError:
            flags = []
        keras = keras_module()
        _NATIVE_BF16 = (
            ("avx512_bf16" in flags or "amx_bf16" in flags)
            and os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1") != "0"
            and keras.backend.backend() == "tensorflow"
        )
    return _NATIVE_BF16


class KerasModel(FerModel):
    """A Keras network wrapped to the shared contract; trains with validation-based selection."""

    model_: Any
    #: Weights to start from instead of random ones, one list per network (set by training for ``init``;
    #: see :mod:`fer_core.training`): an ensemble's member i starts from the i-th.
    initial_weights_: list[list[np.ndarray]] | None = None
    #: Where to save a checkpoint after every epoch, and to resume from if one is there (long runs).
    checkpoint_dir_: Path | None = None
    #: What identifies this run in its checkpoints (parameters and data sizes).
    run_: dict[str, Any] | None = None

    def build_network(self, steps_per_epoch: int) -> Any:
        """A fresh network (``model_``) compiled with this recipe's optimizer, schedule and loss.

        With ``precision="mixed_bfloat16"`` the network computes in bfloat16 and keeps float32
        weights (1.5x faster per step on this project's AVX512-BF16 CPU, measured side by side; same
        validation accuracy on a short run); the saved file is float32 either way.
        """
        keras = keras_module()
        p = self.params
        self.model_ = build_in_precision(self.spec.builder, p, p.get("precision", "float32"))
        if self.initial_weights_:
            try:
                self.model_.set_weights(self.initial_weights_[0])
            except ValueError:
                raise FerError(
                    "The network to fine-tune from has a different shape from this recipe's "
                    "(widths and layers must match); train it from scratch or start from a matching model."
                ) from None
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
        return self.model_

    def _fit_ensemble(self, x, y, x_val, y_val, callback, stop) -> KerasModel:
        """Train each member (same recipe, its own epoch count) and average their outputs."""
        members: list[KerasModel] = []
        epochs_list = [int(e) for e in self.params["ensemble_epochs"]]
        for i, epochs in enumerate(epochs_list):
            emit(callback, ProgressEvent("message", self.name, message=f"Ensemble member {i + 1}/{len(epochs_list)}"))
            # Members differ by their epoch count; a repeated count gets a new seed so it is not a copy.
            seed = int(self.params["seed"]) + epochs_list[:i].count(epochs)
            member = KerasModel(self.spec, {**self.params, "ensemble_epochs": [epochs], "epochs": epochs, "seed": seed})
            if self.initial_weights_:
                member.initial_weights_ = [self.initial_weights_[i % len(self.initial_weights_)]]
            if self.checkpoint_dir_ is not None:
                member.checkpoint_dir_ = Path(self.checkpoint_dir_) / f"member_{i}"
            members.append(
                member.fit(
                    x,
                    y,
                    x_val,
                    y_val,
                    callback=_member_progress(callback, sum(epochs_list[:i]), sum(epochs_list)),
                    stop=stop,
                )
            )
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
        if len(self.params.get("ensemble_epochs") or []) > 1:  # only the cnn has members
            return self._fit_ensemble(x, y, x_val, y_val, callback, stop)
        keras = keras_module()
        p = self.params
        keras.utils.set_random_seed(int(p["seed"]))
        x_in = prepare(x, self.spec.input_kind)
        y_in = as_targets(y)
        batch_size = int(p["batch_size"])
        steps = int(np.ceil(len(x_in) / batch_size))
        self.build_network(steps)
        initial_epoch = 0
        n_val = 0 if x_val is None else len(x_val)
        self.run_ = {"params": json.loads(json.dumps(dict(p), default=list)), "n": len(x_in), "n_val": n_val}
        resumed = load_checkpoint(Path(self.checkpoint_dir_), self.run_) if self.checkpoint_dir_ is not None else None
        if resumed is not None:
            self.model_, initial_epoch, self.history_ = resumed
            emit(callback, ProgressEvent("message", self.name, message=f"Resuming after epoch {initial_epoch}"))
        validation = None
        if x_val is not None and y_val is not None and len(y_val):
            validation = (prepare(x_val, self.spec.input_kind), as_targets(y_val))
        sample_weights = None
        if p.get("class_weight") == "balanced":
            hard = y_in.argmax(axis=1)
            counts = np.bincount(hard, minlength=NUM_CLASSES).astype(np.float64)
            per_class = len(hard) / (NUM_CLASSES * np.maximum(counts, 1))
            sample_weights = per_class[hard].astype(np.float32)
        callbacks = keras_callbacks(self, callback, stop, steps, has_validation=validation is not None)
        self.model_.fit(
            training_batches(x_in, y_in, sample_weights, p),
            epochs=int(p["epochs"]),
            initial_epoch=initial_epoch,
            validation_data=validation,
            validation_batch_size=512,
            callbacks=callbacks,
            verbose=0,
        )
        if p.get("precision") == "mixed_bfloat16":
            # Trained in bfloat16; predict in float32, exactly as the saved (float32) file will.
            network = build_in_precision(self.spec.builder, p, "float32")
            network.set_weights(self.model_.get_weights())
            self.model_ = network
        return self

    def _inference_fn(self) -> Callable[[np.ndarray], Any]:
        """A compiled forward pass (eager Keras calls rebuild work per call; this does not)."""
        fn = getattr(self, "_infer", None)
        if fn is not None and getattr(self, "_infer_for", None) is self.model_:
            return fn
        keras = keras_module()
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

    def _fast_inference_fn(self) -> Callable[[np.ndarray], Any] | None:
        """A bfloat16 copy's compiled forward pass where this CPU computes bfloat16 natively; else None."""
        if not native_bfloat16():
            return None
        fn = getattr(self, "_fast", None)
        if fn is not None and getattr(self, "_fast_for", None) is self.model_:
            return fn
        import tensorflow as tf

        network = bfloat16_copy(self.model_)
        signature = [tf.TensorSpec((None, *self.spec.input_shape), tf.float32)]
        fn = tf.function(lambda batch: tf.cast(network(batch, training=False), tf.float32), input_signature=signature)
        self._fast, self._fast_for = fn, self.model_
        return fn

    #: Fewer faces than this are computed in float32 even when fast: at batch 1 the best CNN took 6.7-7.3 ms
    #: in bfloat16 against 5.0-5.5 ms in float32; they broke even at 2-4 faces, bfloat16 led from 8 (15 vs 20 ms).
    FAST_MIN_BATCH = 8

    def _predict_proba_fast(self, x: np.ndarray) -> np.ndarray:
        return self._predict_proba(x, fast=len(x) >= self.FAST_MIN_BATCH)

    def _predict_proba(self, x: np.ndarray, *, fast: bool = False) -> np.ndarray:
        keras = keras_module()
        inputs = prepare(x, self.spec.input_kind)
        infer = (self._fast_inference_fn() if fast else None) or self._inference_fn()
        out = []
        for start in range(0, len(inputs), 512):
            batch = inputs[start : start + 512]
            out.append(keras.ops.convert_to_numpy(infer(batch)))
        return np.concatenate(out).astype(np.float32)

    def n_parameters(self) -> int:
        return int(self.model_.count_params())

    def save(self, directory: Path, *, float16: bool = False) -> Path:
        """Save the network without optimizer state (a third of the size, all that inference needs).

        With ``float16`` the large weight arrays (kernels) are stored in half precision, about half
        the file; Keras reads them back into the float32 network (see :func:`halve_keras_file`).
        """
        path = Path(directory) / self.spec.file_name
        clean = self.spec.builder(self.params)
        clean.set_weights(self.model_.get_weights())
        stored = path.with_suffix(".stored.keras")
        clean.save(stored)
        if float16:
            halve_keras_file(stored)
        deflate_keras_file(stored, path)
        stored.unlink()
        return path

    @classmethod
    def load(cls, spec: ModelSpec, params: Mapping[str, Any], directory: Path) -> KerasModel:
        keras = keras_module()
        model = cls(spec, spec.saved_params(params))
        import fer_core.models.layers  # noqa: F401 - imports Keras; registers our layers before loading

        model.model_ = keras.saving.load_model(Path(directory) / spec.file_name, compile=False, safe_mode=True)
        return model
