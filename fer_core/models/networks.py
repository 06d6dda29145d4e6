"""Network builders of the Keras family: one function per architecture, parameters in, model out.

Every network takes the model's input kind (``flat`` pixels, ``rows`` or an ``image``) as floats in
[0, 1] and ends in a float32 softmax over the seven emotions. Keras is imported when a network is
built, never at import time, so importing the registry stays fast.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fer_core.constants import NUM_CLASSES
from fer_core.preprocessing import INPUT_SHAPES, InputKind

#: Held while a network is built: the Keras dtype policy is global, and a network built while another
#: thread has switched it to mixed bfloat16 would silently compute in bfloat16 too.
BUILD_LOCK = threading.RLock()

#: Set by the command line: TensorFlow's import prints notices (oneDNN, absl) straight to the process's
#: stderr, whatever the log level, and the CLI keeps stderr for one-line errors.
QUIET_IMPORT = False


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (what native libraries print there)."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def keras_module():  # noqa: ANN201 - the module itself
    """Keras, imported on first use (it takes seconds and loads TensorFlow).

    Under the CLI (:data:`QUIET_IMPORT`) the first import runs with native stderr silenced; an import
    that fails still raises its Python exception afterwards.
    """
    if QUIET_IMPORT and "keras" not in sys.modules:
        with _native_stderr_silenced():
            import keras
    import keras

    return keras


def image_input(params: dict[str, Any], kind: InputKind) -> tuple[Any, Any]:
    """Model input for ``kind`` plus a centred ``(48, 48, 1)`` view of it."""
    layers = keras_module().layers
    inputs = layers.Input(shape=INPUT_SHAPES[kind], name="face")
    x = inputs if kind == "image" else layers.Reshape((48, 48, 1))(inputs)
    x = layers.Rescaling(scale=4.0, offset=-2.0)(x)  # [0, 1] -> [-2, 2], roughly zero-mean
    return inputs, x


def build_mlp(params: dict[str, Any]) -> Any:
    keras = keras_module()
    layers = keras.layers
    inputs, x = image_input(params, "flat")
    x = layers.Flatten()(x)
    features = params["features"]
    if features == "hog+pixels":
        from fer_core.models.layers import HogFeatures  # imports Keras: only when a network is built

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


def build_lstm(params: dict[str, Any]) -> Any:
    keras = keras_module()
    layers = keras.layers
    inputs, x = image_input(params, "rows")
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


def build_cnn_basic(params: dict[str, Any]) -> Any:
    """The seed notebook's first CNN: Conv 32/64/128 + BN + pooling, Dense 128, Dropout 0.4."""
    keras = keras_module()
    layers = keras.layers
    inputs, x = image_input(params, "image")
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


def build_cnn(params: dict[str, Any]) -> Any:
    """The best CNN: one VGG-style net, or an average of several (``ensemble_epochs``)."""
    members = list(params.get("ensemble_epochs") or [])
    if len(members) <= 1:
        return build_cnn_single(params, "cnn")
    keras = keras_module()
    inputs = keras.layers.Input(shape=INPUT_SHAPES["image"], name="face")
    outputs = [build_cnn_single(params, f"cnn_member_{i}")(inputs) for i in range(len(members))]
    return keras.Model(inputs, keras.layers.Average()(outputs), name="cnn_ensemble")


def build_cnn_single(params: dict[str, Any], name: str) -> Any:
    """VGG-style: stages of 3x3 conv + BN + ReLU, max-pool, global average pooling, dropout."""
    keras = keras_module()
    layers = keras.layers
    l2 = keras.regularizers.L2(float(params["l2"])) if params["l2"] else None
    inputs, x = image_input(params, "image")
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
