"""Face-detector benchmark: recall on hard real faces, false faces on faceless images, latency.

Run with ``make bench-detectors`` (reads the labelled real photos: ``$FER_REALFACES_DIR``, else
``realfaces/`` beside the data folder). Each photo has one clearly visible face; its *reference box*
is the largest face MTCNN finds at a lenient setting (score 0.5, faces down to 2 % of the shorter
side), checked by eye once for these photos. From each photo the benchmark makes:

- **upright**: the photo as it is;
- **tilted**: rotated by -45, -30, +30 and +45 degrees (the canvas grows, corners grey);
- **covered**: the lower half of the face hidden by a dark rectangle (a hand or a mask);
- **close-up**: cut to the face's box, so the face fills the frame;
- **small**: shrunk until the face is 32 pixels wide (5 % of the
  shorter side, the detectors' default smallest face), on an 800x600 grey canvas.

A face counts as found when a detected box's centre lies within half the (moved) reference box's
width of the reference centre. *False faces* are the boxes found on 17 faceless pictures shipped
with scikit-image (cat, coffee, coins, bricks, text, rocket, ...). Latency is the median over the
photos shrunk to at most 800 px on the longer side; the *live frame* is a 640x480 frame at the
video detection size (:data:`~fer_core.faces.VIDEO_SHORT_SIDE`). All timings are from one run,
side by side, on this machine.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np

from benchmarks.accuracy import real_photos
from fer_core.faces import (
    DETECTORS,
    VIDEO_SHORT_SIDE,
    Box,
    DetectorSettings,
    MtcnnDetector,
    largest_first,
    make_detector,
)
from fer_core.images import read_image

FACELESS = (
    "brick", "chelsea", "clock", "coffee", "coins", "colorwheel", "grass", "gravel", "horse",
    "hubble_deep_field", "immunohistochemistry", "logo", "moon", "page", "retina", "rocket", "text",
)  # fmt: skip
GREY = (128, 128, 128)


def reference_box(rgb: np.ndarray, lenient: MtcnnDetector) -> Box | None:
    """The photo's face: the largest MTCNN face at a lenient setting."""
    faces = lenient.detect_faces(rgb, DetectorSettings(min_score=0.5, min_face_fraction=0.02))
    return faces[largest_first([f.box for f in faces], 1)[0]].box if faces else None


def rotated(rgb: np.ndarray, box: Box, degrees: float) -> tuple[np.ndarray, Box]:
    """The photo rotated on a grown canvas, and the reference box moved with it."""
    h, w = rgb.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(h * sin + w * cos), int(h * cos + w * sin)
    matrix[:, 2] += (new_w / 2 - w / 2, new_h / 2 - h / 2)
    out = cv2.warpAffine(rgb, matrix, (new_w, new_h), borderValue=GREY)
    x, y, bw, bh = box
    cx, cy = matrix @ np.array([x + bw / 2, y + bh / 2, 1.0])
    return out, (int(cx - bw / 2), int(cy - bh / 2), bw, bh)


def covered(rgb: np.ndarray, box: Box) -> tuple[np.ndarray, Box]:
    out = rgb.copy()
    x, y, w, h = box
    cv2.rectangle(out, (x - w // 10, y + h // 2), (x + w + w // 10, y + h + h // 10), (60, 45, 40), -1)
    return out, box


def close_up(rgb: np.ndarray, box: Box) -> tuple[np.ndarray, Box]:
    x, y, w, h = box
    out = np.ascontiguousarray(rgb[max(0, y) : y + h, max(0, x) : x + w])
    return out, (0, 0, out.shape[1], out.shape[0])


def small(rgb: np.ndarray, box: Box) -> tuple[np.ndarray, Box]:
    scale = 32 / box[2]
    h, w = rgb.shape[:2]
    shrunk = cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    shrunk = shrunk[:600, :800]
    canvas = np.full((600, 800, 3), GREY, np.uint8)
    top, left = (600 - shrunk.shape[0]) // 2, (800 - shrunk.shape[1]) // 2
    canvas[top : top + shrunk.shape[0], left : left + shrunk.shape[1]] = shrunk
    x, y, bw, bh = (round(v * scale) for v in box)
    return canvas, (x + left, y + top, bw, bh)


VARIANTS: dict[str, Callable[[np.ndarray, Box], list[tuple[np.ndarray, Box]]]] = {
    "upright": lambda rgb, box: [(rgb, box)],
    "tilted ±30–45°": lambda rgb, box: [rotated(rgb, box, d) for d in (-45, -30, 30, 45)],
    "covered (lower half)": lambda rgb, box: [covered(rgb, box)],
    "close-up (face fills the frame)": lambda rgb, box: [close_up(rgb, box)],
    "small (32 px face)": lambda rgb, box: [small(rgb, box)],
}


def found(boxes: list[Box], reference: Box) -> bool:
    x, y, w, h = reference
    centre = np.array([x + w / 2, y + h / 2])
    return any(np.hypot(*(np.array([bx + bw / 2, by + bh / 2]) - centre)) <= w / 2 for bx, by, bw, bh in boxes)


def shrink_to(rgb: np.ndarray, longer: int) -> np.ndarray:
    scale = min(1.0, longer / max(rgb.shape[:2]))
    if scale >= 1.0:
        return rgb
    return cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)


def live_frame(rgb: np.ndarray) -> np.ndarray:
    """The photo letterboxed into a 640x480 frame, as a webcam would deliver it."""
    scale = min(640 / rgb.shape[1], 480 / rgb.shape[0])
    shrunk = cv2.resize(rgb, (round(rgb.shape[1] * scale), round(rgb.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), GREY, np.uint8)
    top, left = (480 - shrunk.shape[0]) // 2, (640 - shrunk.shape[1]) // 2
    frame[top : top + shrunk.shape[0], left : left + shrunk.shape[1]] = shrunk
    return frame


def median_ms(detect: Callable[[np.ndarray], object], images: list[np.ndarray]) -> float:
    detect(images[0])  # warm-up (MTCNN builds its graphs on first use)
    times = []
    for image in images:
        start = time.perf_counter()
        detect(image)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def main() -> None:
    photos = real_photos(os.environ.get("FER_DATA_DIR"))
    if not photos:
        raise SystemExit("No real photos: set FER_REALFACES_DIR (or FER_DATA_DIR with realfaces/ beside it).")
    from skimage import data as skdata

    lenient = MtcnnDetector()
    cases: dict[str, list[tuple[np.ndarray, Box]]] = {name: [] for name in VARIANTS}
    originals = []
    for _, path in photos:
        rgb = read_image(path)
        box = reference_box(rgb, lenient)
        if box is None:
            print(f"no reference face in {path.name}; left out")
            continue
        originals.append(rgb)
        for name, make in VARIANTS.items():
            cases[name].extend(make(rgb, box))
    faceless = []
    for name in FACELESS:
        image = np.asarray(getattr(skdata, name)())
        if image.dtype != np.uint8:  # e.g. the horse is a boolean mask
            image = (image.astype(np.float64) / max(float(image.max()), 1e-9) * 255).astype(np.uint8)
        rgb = np.repeat(image[..., None], 3, axis=2) if image.ndim == 2 else image[..., :3]
        faceless.append(np.ascontiguousarray(rgb))
    print(f"{len(originals)} photos with a reference face; {len(faceless)} faceless pictures\n")
    header = ["detector", *(f"{name} ({len(cases[name])})" for name in VARIANTS)]
    header += [f"false faces on {len(faceless)} faceless", "ms per photo (≤800 px)", "ms per live frame"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    frames = [live_frame(rgb) for rgb in originals]
    photos_800 = [shrink_to(rgb, 800) for rgb in originals]
    video = DetectorSettings(detection_short_side=VIDEO_SHORT_SIDE)
    for name in DETECTORS:
        detector = make_detector(name)
        cells = [f"`{name}`"]
        for variant in VARIANTS:
            hits = sum(found([f.box for f in detector.detect_faces(rgb)], box) for rgb, box in cases[variant])
            cells.append(f"{hits} ({hits / len(cases[variant]):.0%})")
        cells.append(str(sum(len(detector.detect_faces(image)) for image in faceless)))
        cells.append(f"{median_ms(detector.detect_faces, photos_800):.0f}")
        cells.append(f"{median_ms(lambda f, d=detector: d.detect_faces(f, video), frames):.0f}")
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
