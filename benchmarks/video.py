"""Video-file benchmark: speed against real time and against the `fer` package, and memory over 10 minutes.

Run alone with ``make bench-video`` (also a section of ``make bench``). The clips are synthesised
here (a moving face on a 640x480, 30 fps H.264 clip; see benchmarks/clips.py). Everything runs side
by side in this one process, so the ratios hold on a busy machine even when the seconds do not.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.clips import moving_head, write_clip
from fer_core.artifacts import list_cards, load_model
from fer_core.faces import FaceDetector
from fer_core.video import VideoSettings, analyse_video

FPS = 30


def scene(n: int) -> list[np.ndarray]:
    """A face walking across a 640x480 frame and back (``n`` frames)."""
    there = list(moving_head(max(2, n // 2), 640, 480, 220))
    return (there + there[::-1])[:n]


def rss_mb() -> float:
    """Resident memory of this process now (MB), from /proc (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ours(clip: Path, model: Any, annotated: Path | None = None) -> tuple[float, int, int]:
    """(seconds, frames, frames with a face) for our analysis of every frame."""
    started = time.perf_counter()
    analysis = analyse_video(clip, model, FaceDetector(), annotated_path=annotated)
    seconds = time.perf_counter() - started
    return seconds, analysis.frames_decoded, len(np.unique(analysis.faces["frame"]))


def theirs(clip: Path, outdir: Path) -> tuple[float, int, int] | None:
    """The same for `fer`'s Video(...).analyze(FER()) with nothing saved (its least work); None without fer."""
    try:
        import fer.classes
        from fer.classes import Video
        from fer.fer import FER
    except Exception:  # noqa: BLE001 - any import problem means "not installed for the benchmark"
        return None
    import functools

    import cv2

    fer.classes.tqdm = functools.partial(fer.classes.tqdm, disable=True)  # its progress bar, not in our table

    detector = FER()
    # fer's loop calls cv2.waitKey (and destroyAllWindows) even with display=False; the headless
    # OpenCV we install has no windows, so those two become no-ops while it runs.
    gui = cv2.waitKey, cv2.destroyAllWindows
    cv2.waitKey, cv2.destroyAllWindows = (lambda *_: -1), (lambda *_: None)
    here = Path.cwd()
    outdir.mkdir(parents=True, exist_ok=True)
    os.chdir(outdir)  # fer writes its results to ./data.csv whatever it is told: keep that out of the checkout
    try:
        video = Video(str(clip), outdir=str(outdir))
        started = time.perf_counter()
        data = video.analyze(
            detector, display=False, save_frames=False, save_video=False, annotate_frames=False, zip_images=False
        )
        seconds = time.perf_counter() - started
        del video
    finally:
        os.chdir(here)
        cv2.waitKey, cv2.destroyAllWindows = gui
    return seconds, len(data), sum(1 for frame in data if frame)


def following_check(clip: Path, model: Any) -> dict[str, float]:
    """The cascade on every frame against the cascade every third frame with matching between, same clip.

    Frames with a face, the boxes' overlap (IoU) and how often the top emotion is the same, and the time.
    """
    from fer_core.live import box_iou

    runs = {}
    for every in (1, VideoSettings().cascade_every):
        started = time.perf_counter()
        analysis = analyse_video(clip, model, FaceDetector(), settings=VideoSettings(cascade_every=every))
        runs[every] = (time.perf_counter() - started, largest_faces(analysis))
    (t_each, each), (t_matched, matched) = runs.values()
    both = sorted(set(each) & set(matched))
    return {
        "frames_each": len(each),
        "frames_matched": len(matched),
        "iou": float(np.mean([box_iou(tuple(each[i]["box"]), tuple(matched[i]["box"])) for i in both])),
        "same_top": float(np.mean([each[i]["p"].argmax() == matched[i]["p"].argmax() for i in both])),
        "speed_up": t_each / t_matched,
    }


def largest_faces(analysis: Any) -> dict[int, Any]:
    """The largest face's row of every frame with a face, by frame index."""
    out: dict[int, Any] = {}
    for row in analysis.faces:
        frame, (_, _, w, h) = int(row["frame"]), row["box"]
        if frame not in out or w * h > out[frame]["box"][2] * out[frame]["box"][3]:
            out[frame] = row
    return out


def camera_moves(photo: Path, n: int = 60) -> list[np.ndarray]:
    """A 2-second 640x480 clip of a still photo filmed by a moving camera (pans, zooms in 10 %, rolls +-5 degrees)."""
    import cv2

    from fer_core.images import read_image

    image = read_image(photo)
    height, width = image.shape[:2]
    scale = 560 / min(height, width)
    image = cv2.resize(image, (max(700, round(width * scale)), max(560, round(height * scale))))
    height, width = image.shape[:2]
    frames = []
    for i in range(n):
        a = i / (n - 1)
        matrix = cv2.getRotationMatrix2D((width / 2, height / 2), 5 * np.sin(2 * np.pi * a), 1.0 + 0.1 * a)
        turned = cv2.warpAffine(image, matrix, (width, height), borderMode=cv2.BORDER_REFLECT)
        x0, y0 = int((width - 640) * a), int((height - 480) * (0.5 + 0.3 * np.sin(np.pi * a)))
        frames.append(np.ascontiguousarray(turned[y0 : y0 + 480, x0 : x0 + 640]))
    return frames


def real_photo_clips(model: Any, folder: Path) -> dict[str, float] | None:
    """The labelled real photos as moving-camera clips: the largest face's top emotion against the photo's
    label, frame by frame, with the cascade on every frame and with matching between cascade checks.

    A development check of the matching (the photos are few; nothing was tuned on this). None without them.
    """
    from benchmarks.accuracy import real_photos
    from fer_core.constants import EMOTIONS

    photos = real_photos(None)
    if not photos:
        return None
    out = {"clips": len(photos), "frames": 0.0}
    for every in (1, VideoSettings().cascade_every):
        out[f"found_{every}"] = out[f"right_{every}"] = out[f"seconds_{every}"] = 0.0
    for k, (emotion, photo) in enumerate(photos):
        clip = write_clip(folder / f"real{k}.mp4", camera_moves(photo), fps=FPS)
        out["frames"] += 60
        for every in (1, VideoSettings().cascade_every):
            started = time.perf_counter()
            analysis = analyse_video(clip, model, FaceDetector(), settings=VideoSettings(cascade_every=every))
            out[f"seconds_{every}"] += time.perf_counter() - started
            faces = largest_faces(analysis)
            out[f"found_{every}"] += len(faces)
            out[f"right_{every}"] += sum(int(row["p"].argmax()) == EMOTIONS.index(emotion) for row in faces.values())
        clip.unlink()
    return out


def precision_check(model: Any, card: Any) -> dict[str, float] | None:
    """The model's validation faces in float32 and in the video path's fast (bfloat16) inference.

    None without the dataset, or for a model with no faster path (nothing to compare).
    """
    from fer_core.data import load_dataset, validation_split
    from fer_core.errors import FerError
    from fer_core.models.keras_models import KerasModel, native_bfloat16

    if not isinstance(model, KerasModel) or not native_bfloat16():
        return None
    try:
        dataset = load_dataset()
    except FerError:
        return None
    fraction, seed = card.params.get("validation_fraction", 0.1), card.params.get("seed", 42)
    _, _, x_val, y_val = validation_split(dataset.x_train, dataset.y_train, fraction=fraction, seed=seed)
    model.predict_proba(x_val[:64], fast=True)  # builds the bfloat16 copy
    started = time.perf_counter()
    exact = model.predict_proba(x_val)
    t_exact = time.perf_counter() - started
    started = time.perf_counter()
    fast = model.predict_proba(x_val, fast=True)
    t_fast = time.perf_counter() - started
    return {
        "faces": len(y_val),
        "accuracy_float32": float((exact.argmax(1) == y_val).mean()),
        "accuracy_bfloat16": float((fast.argmax(1) == y_val).mean()),
        "same_top": float((exact.argmax(1) == fast.argmax(1)).mean()),
        "speed_up": t_exact / t_fast,
    }


def memory_run(clip: Path, model: Any, minutes: float) -> dict[str, float]:
    """RSS before, after the first minute, and at the end of analysing ``clip`` (every frame)."""
    samples: list[tuple[float, float]] = []

    def sample(progress: Any) -> None:
        if progress.frames_done % 300 == 0:
            samples.append((progress.seconds_done, rss_mb()))

    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    analysis = analyse_video(clip, model, FaceDetector(), settings=VideoSettings(), on_progress=sample)
    end = rss_mb()
    after_first_minute = next((mb for t, mb in samples if t >= 60), samples[0][1] if samples else end)
    return {
        "before_mb": before,
        "after_first_minute_mb": after_first_minute,
        "end_mb": end,
        "peak_growth_after_first_minute_mb": max(mb for _, mb in samples) - after_first_minute if samples else 0.0,
        "frames": analysis.frames_decoded,
        "face_rows": len(analysis.faces),
        "seconds": time.perf_counter() - started,
        "minutes": minutes,
    }


def bench_video(model: Any, seconds: float = 20.0, memory_minutes: float = 10.0, real_clips: bool = False) -> list[Any]:
    """Rows for benchmarks.perf's table."""
    from benchmarks.perf import Row

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        frames = scene(int(seconds * FPS))
        clip = write_clip(folder / "walk.mp4", frames, fps=FPS)
        ours(clip, model)  # warm-up: model graphs, detector
        t_ours, n, found = ours(clip, model)
        t_annotated, _, _ = ours(clip, model, folder / "annotated.mp4")
        speed = n / FPS / t_ours
        rows.append(
            Row(
                "640x480 30 fps clip, every frame classified",
                f"analyse_video, `{model.name}`, Haar + tracking, {n} frames ({n / FPS:.0f} s of video)",
                speed, "x real time", target=">= 2x real time", met=speed >= 2, runs=1,
                note=f"{1000 * t_ours / n:.1f} ms per frame; face found in {found} of {n} frames; with the annotated "
                f"H.264 copy written too: {n / FPS / t_annotated:.1f}x real time",
            )
        )  # fmt: skip
        follow = following_check(clip, model)
        rows.append(
            Row(
                "following faces by matching between cascade checks",
                f"cascade on every frame vs every {VideoSettings().cascade_every}rd frame with template matching "
                "between, same clip",
                follow["same_top"] * 100, "% same top emotion", ratio=follow["speed_up"], target="report", runs=1,
                note=f"frames with a face: {follow['frames_each']} vs {follow['frames_matched']}; boxes overlap "
                f"(IoU) {follow['iou']:.2f} on average; {follow['speed_up']:.2f}x faster",
                extra=follow,
            )
        )  # fmt: skip
        real = real_photo_clips(model, folder) if real_clips else None
        if real is not None:
            m = VideoSettings().cascade_every
            rows.append(
                Row(
                    "real photos filmed by a moving camera: largest face right, per frame",
                    f"{real['clips']:.0f} labelled photos x 60 frames; cascade every {m}rd frame with matching "
                    "between, against the cascade on every frame",
                    real[f"right_{m}"], "frames right", real["right_1"], target="report", runs=1,
                    note=f"faces found in {real[f'found_{m}']:.0f} vs {real['found_1']:.0f} of {real['frames']:.0f} "
                    f"frames; right {real[f'right_{m}']:.0f} vs {real['right_1']:.0f}; "
                    f"{real['seconds_1'] / real[f'seconds_{m}']:.2f}x faster",
                    extra=real,
                )
            )  # fmt: skip
        reference = theirs(clip, folder / "fer_out")
        if reference is None:
            note = "fer not installed (requirements-bench.txt)"
            rows.append(Row("clip vs fer's Video.analyze", "skipped", note=note))
        else:
            t_fer, n_fer, found_fer = reference
            ratio = t_fer / t_ours
            rows.append(
                Row(
                    "same clip: ours vs fer's Video(...).analyze(FER())",
                    "every frame; fer with nothing saved (no frames, no video, no annotation)",
                    t_ours, "s", t_fer, ratio, ">= 5x faster", ratio >= 5, 1,
                    f"frames with a face: ours {found}/{n}, fer {found_fer}/{n_fer}",
                )
            )  # fmt: skip
        if memory_minutes > 0:
            long_clip = write_clip(folder / "long.mp4", _repeat(frames, int(memory_minutes * 60 * FPS)), fps=FPS)
            memory = memory_run(long_clip, model, memory_minutes)
            growth = memory["end_mb"] - memory["after_first_minute_mb"]
            rows.append(
                Row(
                    f"memory growth over a {memory_minutes:.0f}-minute clip",
                    "RSS at the end minus RSS after the first minute, every frame classified",
                    growth, "MB", target="<= 50 MB", met=growth <= 50, runs=1,
                    note=f"RSS {memory['before_mb']:.0f} MB before, {memory['after_first_minute_mb']:.0f} MB after a "
                    f"minute, {memory['end_mb']:.0f} MB after {memory['frames']:,} frames "
                    f"({memory['face_rows']:,} face rows) in {memory['seconds']:.0f} s",
                    extra=memory,
                )
            )  # fmt: skip
    return rows


def precision_rows(model: Any, card: Any) -> list[Any]:
    """The bfloat16-vs-float32 row for benchmarks.perf's table (none without the dataset or bfloat16)."""
    from benchmarks.perf import Row

    check = precision_check(model, card)
    if check is None:
        return [Row("video inference in bfloat16", "skipped", note="no dataset, or no native bfloat16 on this CPU")]
    return [
        Row(
            "video inference in bfloat16 vs float32",
            f"`{model.name}` on its {check['faces']:,} validation faces, one pass each",
            check["same_top"] * 100, "% same top emotion", ratio=check["speed_up"], target="report", runs=1,
            note=f"accuracy {check['accuracy_float32']:.4f} in float32, {check['accuracy_bfloat16']:.4f} in "
            f"bfloat16; {check['speed_up']:.2f}x faster",
            extra=check,
        )
    ]  # fmt: skip


def _repeat(frames: list[np.ndarray], n: int) -> Any:
    for i in range(n):
        yield frames[i % len(frames)]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.perf import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the speed clip")
    parser.add_argument("--memory-minutes", type=float, default=10.0, help="length of the memory clip (0: skip)")
    parser.add_argument(
        "--no-real-clips", action="store_true", help="skip the real photos filmed by a moving camera (about 2 min)"
    )
    args = parser.parse_args(argv)
    name = list_cards().photo_model() or "cnn"
    model, card = load_model(name)
    rows = bench_video(model, args.seconds, args.memory_minutes, real_clips=not args.no_real_clips)
    rows += precision_rows(model, card)
    print(table(rows))
    for row in rows:
        if row.note:
            print(f"- {row.figure}: {row.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
