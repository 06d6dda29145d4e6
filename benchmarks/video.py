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
        from fer.classes import Video
        from fer.fer import FER
    except Exception:  # noqa: BLE001 - any import problem means "not installed for the benchmark"
        return None
    import cv2

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


def bench_video(model: Any, seconds: float = 20.0, memory_minutes: float = 10.0) -> list[Any]:
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


def _repeat(frames: list[np.ndarray], n: int) -> Any:
    for i in range(n):
        yield frames[i % len(frames)]


def main(argv: list[str] | None = None) -> int:
    from benchmarks.perf import table

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the speed clip")
    parser.add_argument("--memory-minutes", type=float, default=10.0, help="length of the memory clip (0: skip)")
    args = parser.parse_args(argv)
    name = list_cards().photo_model() or "cnn"
    model, _ = load_model(name)
    rows = bench_video(model, args.seconds, args.memory_minutes)
    print(table(rows))
    for row in rows:
        if row.note:
            print(f"- {row.figure}: {row.note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
