"""Custom Keras layers of the zoo (imported lazily: importing it imports Keras).

The layers are registered with Keras, so saved models that use them load with ``safe_mode=True``
and no ``custom_objects``, as long as this module was imported first (``keras_models`` does that).
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="fer_core")
class HogFeatures(keras.layers.Layer):
    """Histograms of oriented gradients, computed inside the network: ``(b, 48, 48, 1) -> (b, 900)``.

    The same recipe as :func:`fer_core.preprocessing.hog_features` (OpenCV): unsigned gradient
    directions in 9 bins of 20 degrees, summed per 8x8 cell, 2x2-cell blocks with stride one cell,
    L2-Hys normalised. Built from differentiable ops, so saliency maps still reach the pixels and the
    flip augmentation of raw faces stays valid. Values differ slightly from OpenCV's (no Gaussian
    block window, no spatial interpolation), which does not matter to a network that learns on them.
    """

    def __init__(self, cell: int = 8, bins: int = 9, clip: float = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cell, self.bins, self.clip = int(cell), int(bins), float(clip)

    def call(self, faces: Any) -> Any:
        faces = ops.cast(faces, "float32")  # edge directions need float32 (bfloat16 has 8 bits of precision)
        x = ops.pad(faces[..., 0], [[0, 0], [1, 1], [1, 1]], mode="symmetric")  # (b, 50, 50)
        gx = x[:, 1:-1, 2:] - x[:, 1:-1, :-2]
        gy = x[:, 2:, 1:-1] - x[:, :-2, 1:-1]
        squared = gx * gx + gy * gy
        magnitude = ops.sqrt(squared + 1e-8)
        # arctan2's gradient is 0/0 where both differences are 0 (flat patches): give it a harmless input.
        flat = squared < 1e-12
        angle = ops.arctan2(ops.where(flat, 0.0, gy), ops.where(flat, 1.0, gx))
        angle = ops.mod(angle, math.pi)  # unsigned direction in [0, pi)
        width = math.pi / self.bins
        centres = ops.convert_to_tensor([(k + 0.5) * width for k in range(self.bins)], dtype=faces.dtype)
        distance = ops.abs(angle[..., None] - centres)  # (b, 48, 48, bins)
        distance = ops.minimum(distance, math.pi - distance)  # directions wrap around at pi
        votes = ops.relu(1.0 - distance / width) * magnitude[..., None]  # split between the two nearest bins
        size = faces.shape[1]
        n = size // self.cell
        cells = ops.reshape(votes, (-1, n, self.cell, n, self.cell, self.bins))
        cells = ops.sum(cells, axis=(2, 4))  # (b, 6, 6, bins)
        cells = ops.transpose(cells, (0, 2, 1, 3))  # OpenCV's order: blocks and cells column by column
        blocks = ops.concatenate(
            [cells[:, :-1, :-1], cells[:, :-1, 1:], cells[:, 1:, :-1], cells[:, 1:, 1:]], axis=-1
        )  # (b, 5, 5, 4 * bins)
        blocks = self._normalise(blocks)
        blocks = self._normalise(ops.minimum(blocks, self.clip))  # L2-Hys: clip, then normalise again
        return ops.reshape(blocks, (-1, (n - 1) * (n - 1) * 4 * self.bins))

    @staticmethod
    def _normalise(blocks: Any) -> Any:
        return blocks / ops.sqrt(ops.sum(blocks * blocks, axis=-1, keepdims=True) + 1e-6)

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        n = int(input_shape[1]) // self.cell
        return (input_shape[0], (n - 1) * (n - 1) * 4 * self.bins)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cell": self.cell, "bins": self.bins, "clip": self.clip}
