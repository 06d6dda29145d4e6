"""Photo-like augmentation vs the best CNN's own flip + shift, on a short schedule (made the README's table).

One network of the best CNN, trained from scratch (``--epochs``, default 10: 1 warm-up, cosine),
mixed bfloat16, on the stratified 90 % of FER2013 train (seed 42); measured on the 10 % validation
split (flip TTA) and on the labelled real photos (largest MTCNN face, aligned crop, flip TTA). The
test split is never used. Writes ``runs/ablation_<which>.json``. Hours-long on 2 cores at full length::

    python -m tools.ablate_augmentation standard
    python -m tools.ablate_augmentation photo
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from fer_core.constants import EMOTIONS, RUNS_DIR
from fer_core.data import load_dataset, resolve_data_dir, validation_split
from fer_core.faces import crop_detection, largest_first, make_detector, to_grey
from fer_core.images import read_image
from fer_core.models import create_model


def real_faces() -> tuple[np.ndarray, np.ndarray]:
    """Aligned crops of the largest MTCNN face of each labelled real photo, and their labels."""
    root = Path(os.environ.get("FER_REALFACES_DIR") or resolve_data_dir().parent / "realfaces")
    detector = make_detector("mtcnn")
    crops, labels = [], []
    for emotion in EMOTIONS:
        for path in sorted((root / emotion).glob("*")):
            if path.suffix.lower() not in {".jpg", ".jpeg", ".png", ".webp"}:
                continue
            rgb = read_image(path)
            faces = detector.detect_faces(rgb)
            if faces:
                face = faces[largest_first([f.box for f in faces], 1)[0]]
                crops.append(crop_detection(to_grey(rgb), face))
                labels.append(EMOTIONS.index(emotion))
    return np.stack(crops), np.asarray(labels)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("which", choices=["standard", "photo"])
    parser.add_argument("--epochs", type=int, default=10)
    args = parser.parse_args()
    dataset = load_dataset()
    x, y = dataset.x_train, dataset.y_train
    fit_idx, _, val_idx, _ = validation_split(np.arange(len(y)), y, 0.1, 42)
    params: dict = {"epochs": args.epochs, "warmup_epochs": 1}
    if args.which == "photo":
        params.update(augment="photo", shift=0.0)  # the photo augmentation shifts faces itself
    model = create_model("cnn", **params)
    model.params["precision"] = "mixed_bfloat16"  # not a registry parameter of cnn: set for this run only
    started = time.perf_counter()
    model.fit(x[fit_idx], y[fit_idx], x[val_idx], y[val_idx])
    seconds = time.perf_counter() - started
    crops, labels = real_faces()
    result = {
        "augment": args.which,
        "validation_tta": float((model.predict(x[val_idx], tta=True) == y[val_idx]).mean()),
        "realfaces_right": int((model.predict(crops, tta=True) == labels).sum()),
        "realfaces_found": len(labels),
        "seconds": seconds,
        "history_val": model.history_.get("val_accuracy"),
    }
    RUNS_DIR.mkdir(parents=True, exist_ok=True)
    (RUNS_DIR / f"ablation_{args.which}.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
