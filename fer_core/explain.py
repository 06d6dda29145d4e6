"""Why did the model say that? Per-face heatmaps for every model family, plus an overlay helper.

- Keras networks with convolutions get Grad-CAM on their last convolution (Selvaraju et al., 2017):
  the channel maps weighted by the averaged gradient of the predicted class's logit, kept where
  positive. (Logits, not probabilities: a confident softmax has almost no gradient left.)
- Other Keras networks (MLP, LSTM), and CNNs whose Grad-CAM map is empty, get gradient saliency:
  the absolute gradient of the class probability with respect to each input pixel, blurred a little.
- The random forest has no per-face gradient; its card's feature-importance map (which pixels the
  trees split on most) is shown instead.
- Logistic regression is linear, so each pixel's contribution (weight x standardised pixel) is exact.

Every map is a float32 ``(48, 48)`` array scaled to ``[0, 1]``. TensorFlow is imported only when a
Keras explanation is asked for.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from fer_core.cards import ModelCard
from fer_core.constants import IMAGE_SIZE, N_PIXELS
from fer_core.models import FerModel
from fer_core.preprocessing import check_faces, prepare

Method = Literal["gradcam", "saliency", "importance", "contribution"]

#: Side, in pixels, of the upscaled crops and overlays shown on the page.
DISPLAY_SIZE = 192

_GRAD_MODELS: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_grad_lock = threading.Lock()


@dataclass(frozen=True)
class Explanation:
    """A heatmap ``(48, 48)`` in ``[0, 1]`` for one face, how it was made, and a sentence saying so."""

    heatmap: np.ndarray
    method: Method
    caption: str


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def normalise_map(values: np.ndarray) -> np.ndarray:
    """Scale a map to ``[0, 1]`` (NaN and infinities become 0; a flat map becomes all zeros)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if values.size == 0:
        return values.astype(np.float32)
    low, high = float(values.min()), float(values.max())
    if high - low <= 1e-12:
        return np.zeros(values.shape, dtype=np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def _resize_map(values: np.ndarray) -> np.ndarray:
    """Any 2-D map to ``(48, 48)`` (bilinear: smooth, like the receptive fields it came from)."""
    values = np.asarray(values, dtype=np.float32)
    if values.shape == (IMAGE_SIZE, IMAGE_SIZE):
        return values
    return cv2.resize(values, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_LINEAR)


def _single_face(face: np.ndarray) -> np.ndarray:
    faces = check_faces(face)
    if len(faces) != 1:
        raise ValueError(f"Explain one face at a time, got {len(faces)}.")
    return faces


def overlay(face: np.ndarray, heatmap: np.ndarray, *, alpha: float = 0.45, size: int = DISPLAY_SIZE) -> np.ndarray:
    """A grey face ``(48, 48)`` under a coloured heatmap, upscaled to ``(size, size, 3)`` uint8 RGB."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"The overlay opacity must be between 0 and 1, not {alpha}.")
    face = _single_face(face)[0]
    heat = normalise_map(_resize_map(heatmap))
    grey = cv2.resize(face, (size, size), interpolation=cv2.INTER_CUBIC)
    base = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB).astype(np.float32)
    heat_big = cv2.resize(heat, (size, size), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.uint8(np.clip(heat_big, 0, 1) * 255), cv2.COLORMAP_JET)
    colour = cv2.cvtColor(colour, cv2.COLOR_BGR2RGB).astype(np.float32)
    # Weight the colour by the heat itself so cold regions keep the face visible.
    weight = alpha * (0.35 + 0.65 * heat_big[..., None])
    blended = base * (1.0 - weight) + colour * weight
    return np.clip(blended, 0, 255).astype(np.uint8)


def enlarge_face(face: np.ndarray, size: int = DISPLAY_SIZE) -> np.ndarray:
    """A 48x48 crop shown larger with square pixels, exactly as the model sees it."""
    return cv2.resize(_single_face(face)[0], (size, size), interpolation=cv2.INTER_NEAREST)


# --------------------------------------------------------------------------------------------
# Keras: Grad-CAM and gradient saliency
# --------------------------------------------------------------------------------------------


def _last_conv_layer(network: Any) -> Any | None:
    import keras

    for layer in reversed(network.layers):
        if isinstance(layer, keras.layers.Conv2D):
            return layer
    return None


def _softmax_head(network: Any) -> Any | None:
    """The final Dense-with-softmax layer, whose logits we can recompute (None for other heads)."""
    import keras

    last = network.layers[-1]
    if isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax":
        return last
    return None


def _grad_model(network: Any) -> Any | None:
    """A model returning (last conv activations, head input or probabilities), built once per network."""
    with _grad_lock:
        if network in _GRAD_MODELS:
            return _GRAD_MODELS[network]
        import keras

        layer, head = _last_conv_layer(network), _softmax_head(network)
        second = head.input if head is not None else network.outputs[0]
        grad_model = None if layer is None else keras.Model(network.inputs, [layer.output, second])
        _GRAD_MODELS[network] = grad_model
        return grad_model


def _class_scores(network: Any, head_output: Any) -> Any:
    """Pre-softmax logits ``(1, 7)`` when the head allows it (they do not saturate), else probabilities."""
    import tensorflow as tf

    head = _softmax_head(network)
    if head is None:
        return head_output
    return tf.matmul(head_output, tf.cast(head.kernel, head_output.dtype)) + tf.cast(head.bias, head_output.dtype)


def _keras_network(model: FerModel) -> Any:
    network = getattr(model, "model_", None)
    if network is None or model.spec.family != "keras":
        raise ValueError(f"{model.spec.display_name} is not a trained Keras network; it has no gradients to show.")
    return network


def _members(network: Any) -> list[Any]:
    """Sub-networks of an ensemble (e.g. several CNNs averaged), if ``network`` is one."""
    import keras

    return [layer for layer in network.layers if isinstance(layer, keras.Model)]


def grad_cam(model: FerModel, face: np.ndarray, class_index: int | None = None) -> np.ndarray | None:
    """Grad-CAM map ``(48, 48)`` in ``[0, 1]`` for one uint8 face; None if the network has no convolution.

    For an ensemble of networks, each member's map for the ensemble's class is averaged.
    """
    import tensorflow as tf

    network = _keras_network(model)
    inputs = tf.convert_to_tensor(prepare(_single_face(face), model.spec.input_kind))  # (1, 48, 48, 1)
    if _last_conv_layer(network) is None and (members := _members(network)):
        if class_index is None:
            class_index = int(tf.argmax(network(inputs, training=False)[0]))
        maps = [cam for member in members if (cam := _network_cam(member, inputs, class_index)) is not None]
        return normalise_map(np.mean(maps, axis=0)) if maps else None
    return _network_cam(network, inputs, class_index)


def _network_cam(network: Any, inputs: Any, class_index: int | None) -> np.ndarray | None:
    """Grad-CAM of one (non-ensemble) network for a prepared input batch of one face."""
    import tensorflow as tf

    grad_model = _grad_model(network)
    if grad_model is None:
        return None
    with tf.GradientTape() as tape:
        activations, head_output = grad_model(inputs, training=False)  # (1, h, w, c), (1, k)
        scores = _class_scores(network, head_output)  # (1, 7)
        index = int(tf.argmax(scores[0])) if class_index is None else int(class_index)
        score = scores[:, index]
    gradients = tape.gradient(score, activations)  # (1, h, w, c)
    if gradients is None:
        return None
    weights = tf.reduce_mean(gradients, axis=(1, 2))  # (1, c)
    cam = tf.nn.relu(tf.reduce_sum(activations * weights[:, None, None, :], axis=-1))[0]  # (h, w)
    return normalise_map(_resize_map(cam.numpy()))


def gradient_saliency(model: FerModel, face: np.ndarray, class_index: int | None = None) -> np.ndarray:
    """|d probability / d pixel| ``(48, 48)`` in ``[0, 1]`` for one uint8 face, lightly blurred."""
    import tensorflow as tf

    network = _keras_network(model)
    inputs = tf.convert_to_tensor(prepare(_single_face(face), model.spec.input_kind))
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        probabilities = network(inputs, training=False)  # (1, 7)
        index = int(tf.argmax(probabilities[0])) if class_index is None else int(class_index)
        score = probabilities[:, index]
    gradients = tape.gradient(score, inputs)
    values = np.abs(gradients.numpy()).reshape(IMAGE_SIZE, IMAGE_SIZE)  # flat, rows or image -> (48, 48)
    return normalise_map(cv2.GaussianBlur(values, (0, 0), sigmaX=1.5))


# --------------------------------------------------------------------------------------------
# scikit-learn: forest importance and linear contributions
# --------------------------------------------------------------------------------------------


def importance_map(card: ModelCard | None) -> np.ndarray | None:
    """The random forest's pixel importance ``(48, 48)`` in ``[0, 1]`` from its card, if present."""
    values = card.feature_importance if card is not None else None
    if values is None:
        return None
    array = np.asarray(values, dtype=np.float64)
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"The card's feature importance should be 48x48, not {array.shape}.")
    return normalise_map(array)


def linear_feature_weights(pipeline: Any) -> np.ndarray:
    """Per-class weights ``(7, n_features)`` on the standardised features of a scale -> [PCA] -> LR pipeline.

    Every step is linear, so the PCA (whitened or not) folds into the classifier's weights. The last
    2,304 features are always the pixels (HOG features, where used, come first).
    """
    steps = pipeline.named_steps
    weights = steps["clf"].coef_  # (7, k)
    if "pca" in steps:
        pca = steps["pca"]
        components = pca.components_  # (k, n_features)
        if getattr(pca, "whiten", False):
            components = components / np.sqrt(pca.explained_variance_)[:, None]
        weights = weights @ components
    return weights


def linear_contribution(model: FerModel, face: np.ndarray, class_index: int) -> np.ndarray | None:
    """For logistic regression: |pixel weight x standardised pixel| for one class, ``(48, 48)`` in ``[0, 1]``."""
    pipeline = getattr(model, "estimator_", None)
    if pipeline is None or not hasattr(pipeline, "named_steps"):
        return None
    weights = linear_feature_weights(pipeline)[class_index, -N_PIXELS:]
    features = model.features(_single_face(face))  # (1, n_features), the model's own preprocessing
    standardised = pipeline.named_steps["scale"].transform(features)[0, -N_PIXELS:]
    return normalise_map(np.abs(weights * standardised).reshape(IMAGE_SIZE, IMAGE_SIZE))


# --------------------------------------------------------------------------------------------
# One entry point for the page
# --------------------------------------------------------------------------------------------


def explain_face(
    model: FerModel, face: np.ndarray, class_index: int | None = None, card: ModelCard | None = None
) -> Explanation | None:
    """The best available explanation of one face for any registered model (None if there is none)."""
    if model.spec.family == "keras":
        cam = grad_cam(model, face, class_index) if model.spec.input_kind == "image" else None
        if cam is not None and cam.max() > 0:
            return Explanation(cam, "gradcam", "Grad-CAM: regions that pushed the network towards this emotion.")
        return Explanation(
            gradient_saliency(model, face, class_index),
            "saliency",
            "Gradient saliency: pixels whose change would move this emotion's probability most.",
        )
    if model.name == "random_forest":
        heat = importance_map(card)
        if heat is None:
            return None
        caption = "Forest importance: pixels the trees split on most (the same map for every face)."
        return Explanation(heat, "importance", caption)
    if model.name == "logreg":
        index = int(np.argmax(model.predict_proba(face)[0])) if class_index is None else int(class_index)
        heat = linear_contribution(model, face, index)
        if heat is None:
            return None
        return Explanation(
            heat,
            "contribution",
            "Each pixel's contribution to this emotion (weight × pixel; brighter = pushed more). Pixel "
            "features only: the HOG edge features are not drawn.",
        )
    return None
