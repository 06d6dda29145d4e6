"""Augmentations that make FER2013's tidy 48x48 faces look like faces cut out of real photos.

FER2013 faces are roughly upright, centred and evenly lit; faces found in uploaded photos are tilted,
framed a little differently by the detector, lit badly, blurred, JPEG-compressed and sometimes partly
covered by a hand. :func:`photo_augment` draws each of those per face, on floats in [0, 1]:

- geometry: rotation (``rotate`` degrees either way), scale (``1 ± zoom``), shift (``shift`` of the
  side) and a horizontal flip, in one affine warp with reflected borders;
- light: brightness, contrast and gamma;
- blur (Gaussian) and JPEG compression at a low quality;
- occlusion: a grey or dark rectangle over part of the face (``erase`` probability).

It runs per face with OpenCV on the CPU: about 40 microseconds a face, noise next to a training step.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

#: The strengths used when a recipe asks for ``augment="photo"``.
PHOTO_DEFAULTS: dict[str, float] = {
    "rotate": 20.0,
    "zoom": 0.12,
    "shift": 0.08,
    "light": 0.35,
    "blur": 0.2,
    "jpeg": 0.2,
    "erase": 0.25,
}


def photo_augment(x: np.ndarray, params: Mapping[str, Any], rng: np.random.Generator) -> np.ndarray:
    """A randomly photo-like copy of a float batch ``(b, h, w)`` in [0, 1]; see the module text."""
    s = {**PHOTO_DEFAULTS, **{k: float(v) for k, v in params.items() if k in PHOTO_DEFAULTS}}
    batch = np.asarray(x, np.float32)
    out = np.empty_like(batch)
    n, height, width = batch.shape
    centre = (width / 2.0, height / 2.0)
    angles = rng.uniform(-s["rotate"], s["rotate"], n)
    scales = 1.0 + rng.uniform(-s["zoom"], s["zoom"], n)
    shifts = rng.uniform(-s["shift"], s["shift"], (n, 2)) * np.array([width, height])
    flips = rng.random(n) < 0.5
    for i in range(n):
        matrix = cv2.getRotationMatrix2D(centre, float(angles[i]), float(scales[i]))
        matrix[:, 2] += shifts[i]
        face = cv2.warpAffine(batch[i], matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out[i] = face[:, ::-1] if flips[i] else face
    # Light: contrast around the face's mean, brightness, then gamma.
    light = s["light"]
    if light > 0:
        mean = out.mean(axis=(1, 2), keepdims=True)
        contrast = rng.uniform(1 - light, 1 + light, (n, 1, 1))
        brightness = rng.uniform(-light / 2, light / 2, (n, 1, 1))
        out = np.clip((out - mean) * contrast + mean + brightness, 0.0, 1.0)
        gamma = np.exp(rng.uniform(-light, light, (n, 1, 1)))
        out = out**gamma
    for i in np.flatnonzero(rng.random(n) < s["blur"]):
        out[i] = cv2.GaussianBlur(out[i], (0, 0), float(rng.uniform(0.5, 1.3)))
    for i in np.flatnonzero(rng.random(n) < s["jpeg"]):
        quality = int(rng.integers(20, 70))
        ok, data = cv2.imencode(".jpg", (out[i] * 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            out[i] = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    for i in np.flatnonzero(rng.random(n) < s["erase"]):
        # A hand or an object: 10-30 % of the face, anywhere, grey or dark.
        area = rng.uniform(0.1, 0.3) * height * width
        aspect = np.exp(rng.uniform(-0.7, 0.7))
        h = int(min(height, max(4, round(np.sqrt(area * aspect)))))
        w = int(min(width, max(4, round(np.sqrt(area / aspect)))))
        top = int(rng.integers(0, height - h + 1))
        left = int(rng.integers(0, width - w + 1))
        out[i, top : top + h, left : left + w] = rng.uniform(0.0, 0.6)
    return out.astype(np.float32)
