"""Per-family preprocessing: uint8 faces ``(n, 48, 48)`` to the float input each model family takes.

Every model applies exactly these functions in ``fit`` and ``predict_proba``, so training and
inference can never preprocess differently.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

from fer_core.constants import IMAGE_SIZE, N_PIXELS

InputKind = Literal["flat", "rows", "image"]
INPUT_SHAPES: dict[str, tuple[int, ...]] = {
    "flat": (N_PIXELS,),
    "rows": (IMAGE_SIZE, IMAGE_SIZE),
    "image": (IMAGE_SIZE, IMAGE_SIZE, 1),
}


def check_faces(x: np.ndarray) -> np.ndarray:
    """Validate a stack of faces: ``(n, 48, 48)`` (a single ``(48, 48)`` face becomes ``(1, 48, 48)``)."""
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(f"Expected faces of shape (n, 48, 48), got {x.shape}.")
    return x


def to_unit_float(x: np.ndarray) -> np.ndarray:
    """uint8 0-255 to float32 0-1."""
    return np.asarray(x, dtype=np.float32) / np.float32(255.0)


def prepare(x: np.ndarray, kind: InputKind) -> np.ndarray:
    """Faces ``(n, 48, 48)`` uint8 to the model family's float32 input."""
    x = to_unit_float(check_faces(x))
    if kind == "flat":
        return x.reshape(len(x), N_PIXELS)  # (n, 2304)
    if kind == "rows":
        return x  # (n, 48, 48): 48 time steps of 48 pixels
    if kind == "image":
        return x[..., None]  # (n, 48, 48, 1)
    raise ValueError(f"Unknown input kind {kind!r}; expected one of {', '.join(INPUT_SHAPES)}.")


def flip_faces(x: np.ndarray) -> np.ndarray:
    """Mirror uint8 faces ``(n, 48, 48)`` left to right (for augmentation and flip TTA)."""
    return np.ascontiguousarray(check_faces(x)[:, :, ::-1])


#: HOG on a 48x48 face: 16x16 blocks of four 8x8 cells, stride 8, 9 orientations -> 25 x 36 values.
HOG_FEATURES = 900


def hog_features(x: np.ndarray) -> np.ndarray:
    """Histograms of oriented gradients ``(n, 900)`` for uint8 faces: edge directions per 8x8 cell.

    The classic hand-made feature for linear models: it describes the shape of brows, eyes and mouth
    and ignores overall brightness, which raw pixels cannot do for a linear classifier.
    """
    faces = check_faces(x)
    hog = cv2.HOGDescriptor((IMAGE_SIZE, IMAGE_SIZE), (16, 16), (8, 8), (8, 8), 9)
    out = np.empty((len(faces), HOG_FEATURES), dtype=np.float32)
    for i, face in enumerate(faces):
        out[i] = hog.compute(np.ascontiguousarray(face, dtype=np.uint8)).ravel()
    return out
