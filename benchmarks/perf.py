"""Performance benchmark: data loading, training throughput, inference and the app, with targets.

Run with ``make bench`` (FER_DATA_DIR must point at the image-folder FER2013). Prints one table and
writes ``benchmarks/results.json``. Every figure is the median of several runs; where a reference
exists (the seed notebook's way, the `fer` package) both run side by side in this one process on
this machine, and the ratio is what the target is about. Speed targets live here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from benchmarks.presets import report_rows
from benchmarks.serving import CHROMIUM, CHROMIUM_ARGS, REPO, streamlit_server, wait_idle
from benchmarks.training import step_rates
from benchmarks.video import bench_video, precision_rows
from fer_core.artifacts import list_cards, load_model
from fer_core.data import dataset_available, load_dataset, resolve_data_dir
from fer_core.faces import FaceDetector, find_faces, predict_image
from fer_core.live import LiveProcessor, LiveSettings
from fer_core.preprocessing import prepare

RESULTS = Path(__file__).with_name("results.json")


@dataclass
class Row:
    figure: str
    how: str
    value: float | None = None  # ours, in `unit`
    unit: str = ""
    reference: float | None = None  # the reference's figure in the same unit
    ratio: float | None = None  # as the target states it (e.g. speed-up, or our time / theirs)
    target: str = ""
    met: bool | None = None
    runs: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def timed(fn: Callable[[], Any], repeats: int, warmup: int = 0) -> list[float]:
    """Seconds per call for ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return float(statistics.median(values))


# --------------------------------------------------------------------------------------------
# Data loading
# --------------------------------------------------------------------------------------------


def seed_load(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The seed notebook's way: ``image_dataset_from_directory`` on train and test, then to NumPy."""
    import keras

    xs, ys = [], []
    for split in ("train", "test"):
        ds = keras.utils.image_dataset_from_directory(
            root / split, color_mode="grayscale", image_size=(48, 48), batch_size=256, shuffle=False, verbose=False
        )
        for images, labels in ds:
            xs.append(np.asarray(images))
            ys.append(np.asarray(labels))
    return np.concatenate(xs), np.concatenate(ys)


def bench_loading(root: Path, repeats: int) -> list[Row]:
    cold = timed(lambda: load_dataset(root, use_cache=False), repeats, warmup=1)  # warmup: OS file cache
    seed = timed(lambda: seed_load(root), repeats)
    load_dataset(root)  # make sure the cache exists
    warm = timed(lambda: load_dataset(root), max(5, repeats))
    speedup = median(seed) / median(cold)
    dataset = load_dataset(root)
    n = len(dataset.y_train) + len(dataset.y_test)
    return [
        Row(
            f"cold load, {n:,} JPEGs",
            "fer_core.load_dataset(use_cache=False) vs keras image_dataset_from_directory -> NumPy",
            median(cold), "s", median(seed), speedup, "<= 10 s and >= 2x faster",
            median(cold) <= 10 and speedup >= 2, repeats, "files in the OS page cache for both",
        ),
        Row(
            "warm reload (cache hit)", "fer_core.load_dataset (npz cache)", median(warm), "s",
            target="<= 1 s", met=median(warm) <= 1, runs=len(warm),
        ),
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Training throughput
# --------------------------------------------------------------------------------------------


def bench_training(root: Path, images: int, repeats: int) -> list[Row]:
    """Images/s of the shipped recipe's training step (the `cnn` net) in each precision, side by side."""
    dataset = load_dataset(root)
    rates = step_rates(dataset.x_train, dataset.y_train, images=images, repeats=repeats)
    base = median(rates["float32"])
    rows = []
    for label, values in rates.items():
        adopted = label == "mixed bfloat16"
        rows.append(
            Row(
                f"CNN training step: {label}{' (adopted)' if adopted else ''}",
                f"`cnn` net, {images} augmented images per timing, batch 128 unless said; ratio vs float32",
                median(values), "images/s", base, median(values) / base,
                "faster than float32" if adopted else "report", (median(values) > base) if adopted else None, repeats,
            )
        )  # fmt: skip
    return rows


def preset_rows() -> list[Row]:
    """Each lesson preset's time and accuracy, the time-left error, bfloat16 vs float32, the CPU recipe."""
    return [Row(**row) for row in report_rows()]


# --------------------------------------------------------------------------------------------
# Inference
# --------------------------------------------------------------------------------------------


def face_frame(width: int = 640, height: int = 480) -> np.ndarray:
    """scikit-image's astronaut (one frontal face) centred on a grey webcam-sized RGB canvas."""
    from skimage import data

    photo = data.astronaut()[0:300, 100:400]
    canvas = np.full((height, width, 3), 128, np.uint8)
    top, left = (height - 300) // 2, (width - 300) // 2
    canvas[top : top + 300, left : left + 300] = photo
    return canvas


def bench_single_face(model: Any, face: np.ndarray, repeats: int) -> Row:
    x = prepare(face[None], model.spec.input_kind)
    ours = timed(lambda: model.predict_proba(face[None]), repeats, warmup=5)
    keras_predict = timed(lambda: model.model_.predict(x, verbose=0), max(10, repeats // 10), warmup=2)
    ms, ref = 1000 * median(ours), 1000 * median(keras_predict)
    return Row(
        "one face -> probabilities, batch 1",
        f"`{model.name}`: compiled tf.function path vs model.predict",
        ms, "ms", ref, ref / ms, "<= 5 ms", ms <= 5, repeats, "ratio = model.predict time / ours",
    )  # fmt: skip


def fer_detector() -> Any | None:
    try:
        from fer.fer import FER
    except Exception:  # noqa: BLE001 - any import problem means "not installed for the benchmark"
        return None
    return FER()


def bench_frame(model: Any, frames: list[np.ndarray], repeats: int) -> Row:
    """The webcam path: LiveProcessor (detect on a 320-px copy, classify, smooth, draw) vs fer's detect_emotions."""
    processor = LiveProcessor(model)
    ours = timed(lambda: [processor.process(f) for f in frames], repeats, warmup=1)
    per_frame = 1000 * median(ours) / len(frames)
    faces = len(processor.process(frames[0])[1])
    every = LiveProcessor(model, settings=LiveSettings(full_detection_every=1))
    every_ms = 1000 * median(timed(lambda: [every.process(f) for f in frames], repeats, warmup=1)) / len(frames)
    face_detector = FaceDetector()
    photo = timed(lambda: [predict_image(f, model, face_detector) for f in frames], repeats, warmup=1)
    photo_ms = 1000 * median(photo) / len(frames)
    figure = "640x480 frame, one face: detect + classify"
    detector = fer_detector()
    if detector is None:
        return Row(
            figure, "ours vs fer.FER().detect_emotions", per_frame, "ms", target="<= 0.5x fer's time", runs=repeats,
            note="fer not installed: pip install --no-deps -r requirements-bench.txt",
        )  # fmt: skip
    bgr = [cv2.cvtColor(f, cv2.COLOR_RGB2BGR) for f in frames]  # fer reads OpenCV's BGR order
    theirs = timed(lambda: [detector.detect_emotions(f) for f in bgr], repeats, warmup=1)
    ref = 1000 * median(theirs) / len(frames)
    return Row(
        figure,
        f"live webcam path on 10 consecutive frames (LiveProcessor.process, `{model.name}`, no TTA, drawing "
        "included; whole-frame detection every 5th frame, tracking between) vs fer's FER().detect_emotions "
        "(its TFLite default, no drawing)",
        per_frame, "ms", ref, per_frame / ref, "<= 0.5x fer's time", per_frame / ref <= 0.5, repeats,
        f"faces found: ours {faces}, fer {len(detector.detect_emotions(bgr[0]))}; with whole-frame detection "
        f"in every frame ours takes {every_ms:.0f} ms ({every_ms / ref:.2f}x); the photo path "
        f"(predict_image: detection at up to 600 px on the shorter side, flip TTA) takes {photo_ms:.0f} ms",
    )  # fmt: skip


def bench_test_split(model: Any, root: Path, repeats: int) -> Row:
    x = load_dataset(root).x_test

    def run() -> None:
        for start in range(0, len(x), 256):
            model.predict_proba(x[start : start + 256])

    seconds = timed(run, repeats, warmup=1)
    return Row(
        f"all {len(x):,} test faces, batch 256",
        f"`{model.name}` predict_proba, no TTA", len(x) / median(seconds), "images/s", target="report", runs=repeats,
    )  # fmt: skip


def all_models_rss() -> float:
    """RSS (MB) of a fresh Python process after loading all six models and predicting one face each."""
    code = (
        "import numpy as np\n"
        "from fer_core.artifacts import list_cards, load_model\n"
        "from benchmarks.serving import rss_mb\n"
        "import os\n"
        "models = [load_model(name)[0] for name in list_cards().trained]  # all held at once\n"
        "for model in models:\n"
        "    model.predict_proba(np.zeros((1, 48, 48), np.uint8))\n"
        "print(rss_mb(os.getpid()))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# The app through a real browser
# --------------------------------------------------------------------------------------------


def bench_app(photo: Path, repeats: int) -> list[Row]:
    from playwright.sync_api import sync_playwright

    starts, homes, detects, rss_after = [], [], [], []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
            with streamlit_server(env, Path(tmp) / "streamlit.log") as server, sync_playwright() as p:
                starts.append(server.started_seconds)
                browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
                tab = browser.new_page(viewport={"width": 1400, "height": 1000})
                tab.set_default_timeout(180_000)
                begin = time.perf_counter()
                tab.goto(server.url)
                tab.wait_for_selector('[data-testid="stApp"] h1')
                wait_idle(tab, settle=0.0)
                homes.append(time.perf_counter() - begin)
                tab.goto(f"{server.url}/Emotion_detector")
                wait_idle(tab, settle=0.5)
                begin = time.perf_counter()
                with tab.expect_file_chooser() as chooser:
                    tab.locator('[data-testid="stFileUploaderDropzone"] button').first.click()
                chooser.value.set_files(str(photo))
                tab.get_by_text(re.compile(r"\d+ faces? found in \d+ ms")).wait_for()
                detects.append(time.perf_counter() - begin)
                wait_idle(tab, settle=0.5)
                tab.goto(f"{server.url}/Model_comparison")
                wait_idle(tab, settle=0.5, network_idle=True)
                rss_after.append(server.rss_mb())
                browser.close()
    home = median(homes)
    return [
        Row(
            "app: server start -> healthy", "`streamlit run` until /_stcore/health answers", median(starts), "s",
            target="report", runs=repeats,
        ),
        Row(
            "app: home page rendered", "Playwright (Debian chromium): goto / until the script is idle", home, "s",
            target="<= 5 s after the server is up", met=home <= 5, runs=repeats,
        ),
        Row(
            "app: detector result after upload", "file chooser -> 'N face found in' on the page", median(detects), "s",
            target="report", runs=repeats,
        ),
        Row(
            "server memory after detector + comparison pages", "RSS of the streamlit process", median(rss_after), "MB",
            target="report; <= 2 GB", met=median(rss_after) <= 2048, runs=repeats,
        ),
    ]  # fmt: skip


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def table(rows: list[Row]) -> str:
    lines = ["| figure | ours | reference | ratio | target | met? | runs |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        met = "-" if r.met is None else ("met" if r.met else "**not met**")
        ratio = "-" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append(
            f"| {r.figure} | {fmt(r.value, r.unit)} | {fmt(r.reference, r.unit)} | {ratio} | {r.target} | {met} "
            f"| {r.runs} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="FER2013 image folders (default: FER_DATA_DIR)")
    parser.add_argument("--quick", action="store_true", help="fewer repeats (a smoke run, not for the README)")
    args = parser.parse_args(argv)
    reps = 1 if args.quick else 3
    root = resolve_data_dir(args.data)
    if not dataset_available(root):
        print(f"error: no FER2013 image folders at {root}; set FER_DATA_DIR or pass --data", file=sys.stderr)
        return 2
    started = time.perf_counter()
    rows: list[Row] = []
    name = list_cards().best() or "cnn"
    model, card = load_model(name)
    frame = face_frame()
    frames = [np.roll(frame, shift=i, axis=1) for i in range(10)]
    _, crops = find_faces(frame, FaceDetector())
    face = crops[0] if len(crops) else load_dataset(root).x_test[0]
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "astronaut.jpg"
        photo.write_bytes(cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))[1].tobytes())
        sections: list[tuple[str, Callable[[], list[Row]]]] = [
            ("data loading", lambda: bench_loading(root, reps)),
            ("training step", lambda: bench_training(root, 1280 if args.quick else 3072, 1 if args.quick else 2)),
            ("training presets", preset_rows),
            ("single face", lambda: [bench_single_face(model, face, 50 if args.quick else 300)]),
            ("frame", lambda: [bench_frame(model, frames, reps)]),
            ("test split", lambda: [bench_test_split(model, root, reps)]),
            ("video file", lambda: bench_video(model, 20.0, 0.0 if args.quick else 10.0, real_clips=not args.quick)),
            ("video inference precision", lambda: precision_rows(model, card)),
            ("memory", lambda: [Row("memory, all six models loaded", "RSS of a fresh process", all_models_rss(),
                                    "MB", target="<= 2 GB", met=None, runs=1)]),
            ("app", lambda: bench_app(photo, 1 if args.quick else 3) if CHROMIUM.exists() else []),
        ]  # fmt: skip
        for title, section in sections:
            t = time.perf_counter()
            print(f"[bench] {title} ...", file=sys.stderr, flush=True)
            try:
                rows.extend(section())
            except Exception as error:  # noqa: BLE001 - one broken section must not hide the others
                rows.append(Row(title, "failed", note=f"{type(error).__name__}: {error}"))
            print(f"[bench] {title}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    for row in rows:
        if row.figure.startswith("memory, all six") and row.value is not None:
            row.met = row.value <= 2048
    if not CHROMIUM.exists():
        rows.append(Row("app rows", "skipped", note="Debian chromium missing at /usr/bin/chromium"))
    report = {
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d"),
        "seconds": round(time.perf_counter() - started),
        "model": name,
        "rows": [asdict(r) for r in rows],
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Machine: {report['machine']}; default model `{name}`; {report['seconds']} s\n")
    print(table(rows))
    for r in rows:
        if r.note:
            print(f"- {r.figure}: {r.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
