"""Load test: many people using one FER Studio server at once (run by ``make load``).

Phase 1 (through the real server, 60 s): ``streamlit run`` on 127.0.0.1; 10 browser tabs (Debian's
chromium, Playwright) each upload a fresh photo to the emotion detector, wait for the result, remove
it and upload the next; 2 more tabs keep reloading the model comparison page. Reports requests
served, errors (must be 0), median / p95 latency and the server's memory at start and end.

Phase 2 (the detector pipeline, 500 predictions): 10 threads share one cached model and face
detector, as the server's sessions do, and run 500 photo analyses; the process's memory is sampled
every 50, to show it levels off instead of growing with the number of predictions.

Phase 3 (class mode, 2 classes x 30 students): 60 threads join two quiz classes on one SQLite
database in WAL mode (the server's default) and answer 20 faces each as fast as they can — a worse
burst than a class pressing buttons. Reports each answer's acknowledgement time (the store call the
page makes), lost answers (must be 0) and whether each class saw only its own students.

Requests only go to 127.0.0.1; both phases are bounded in count and time and stop by themselves.
Writes ``benchmarks/load_results.json``. Exit status 1 if there was any error or unbounded growth.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from benchmarks.serving import CHROMIUM, CHROMIUM_ARGS, IDLE_SELECTOR, rss_mb, streamlit_server

RESULTS = Path(__file__).with_name("load_results.json")
#: Memory may grow by this much between prediction 100 and 500 (allocator noise, caches filling).
GROWTH_LIMIT_MB = 100.0
REQUEST_TIMEOUT_MS = 90_000


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"detector": [], "comparison": []})
    errors: list[str] = field(default_factory=list)

    def summary(self, kind: str) -> dict[str, float | int | None]:
        values = sorted(self.latencies[kind])
        if not values:
            return {"served": 0, "median_s": None, "p95_s": None}
        p95 = values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))]
        return {"served": len(values), "median_s": round(statistics.median(values), 3), "p95_s": round(p95, 3)}


def photo_variant(base: np.ndarray, index: int) -> bytes:
    """A PNG of ``base`` with its corner pixels set from ``index``: new to the page's per-session cache,
    and otherwise the same photo (noise all over it would change how long face detection takes)."""
    photo = base.copy()
    photo[0, :4] = np.frombuffer(index.to_bytes(12, "little"), np.uint8).reshape(4, 3)
    ok, buffer = cv2.imencode(".png", cv2.cvtColor(photo, cv2.COLOR_RGB2BGR))
    assert ok
    return buffer.tobytes()


def face_photo() -> np.ndarray:
    from benchmarks.perf import face_frame

    return face_frame()


# --------------------------------------------------------------------------------------------
# Phase 1: browsers against the real server
# --------------------------------------------------------------------------------------------


async def _idle(page) -> None:  # noqa: ANN001 - a playwright Page
    await page.wait_for_selector(IDLE_SELECTOR, timeout=REQUEST_TIMEOUT_MS)


async def detector_user(browser, url: str, user: int, deadline: float, tally: Tally, base: np.ndarray) -> None:  # noqa: ANN001
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(REQUEST_TIMEOUT_MS)
    try:
        await page.goto(f"{url}/Emotion_detector")
        await _idle(page)
        index = 0
        while time.monotonic() < deadline:
            name = f"user{user:02d}_photo{index:03d}.png"
            data = photo_variant(base, user * 10_000 + index)
            start = time.perf_counter()
            try:
                await page.locator('input[type="file"]').first.set_input_files(
                    files=[{"name": name, "mimeType": "image/png", "buffer": data}]
                )
                await page.get_by_text(re.compile(r"\d+ faces? found in \d+ ms")).first.wait_for()
                await page.get_by_text(name, exact=True).first.wait_for()
                await page.wait_for_timeout(100)
                await _idle(page)
                if await page.locator('[data-testid="stException"]').count():
                    raise RuntimeError("the page showed an exception")
                tally.latencies["detector"].append(time.perf_counter() - start)
                await page.locator('[data-testid="stFileChipDeleteBtn"]').first.click()
                await page.get_by_text(name, exact=True).first.wait_for(state="detached")
                await _idle(page)
            except Exception as error:  # noqa: BLE001 - counted and reported, the user carries on
                tally.errors.append(f"detector user {user}, {name}: {type(error).__name__}: {error}"[:300])
                await page.goto(f"{url}/Emotion_detector")
                await _idle(page)
            index += 1
    finally:
        await context.close()


async def comparison_user(browser, url: str, user: int, deadline: float, tally: Tally) -> None:  # noqa: ANN001
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    page.set_default_timeout(REQUEST_TIMEOUT_MS)
    try:
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                await page.goto(f"{url}/Model_comparison")
                await page.get_by_text("All trained models").first.wait_for()
                await page.wait_for_timeout(100)
                await _idle(page)
                if await page.locator('[data-testid="stException"]').count():
                    raise RuntimeError("the page showed an exception")
                tally.latencies["comparison"].append(time.perf_counter() - start)
            except Exception as error:  # noqa: BLE001
                tally.errors.append(f"comparison user {user}: {type(error).__name__}: {error}"[:300])
    finally:
        await context.close()


async def _phase_one(url: str, users: int, browsers: int, seconds: float, tally: Tally, base: np.ndarray) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        deadline = time.monotonic() + seconds
        tasks = [detector_user(browser, url, u, deadline, tally, base) for u in range(users)]
        tasks += [comparison_user(browser, url, u, deadline, tally) for u in range(browsers)]
        await asyncio.gather(*tasks)
        await browser.close()


def phase_one(users: int, browsers: int, seconds: float) -> dict:
    base = face_photo()
    tally = Tally()
    samples: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
        with streamlit_server(env, Path(tmp) / "streamlit.log") as server:
            # One warm-up visit loads the model, as the first person of the day would.
            warm = Tally()
            asyncio.run(_phase_one(server.url, 1, 0, 1.0, warm, base))
            rss_start = server.rss_mb()
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(2.0):
                    samples.append(server.rss_mb())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            cpu_start = server.cpu_seconds()
            started = time.perf_counter()
            asyncio.run(_phase_one(server.url, users, browsers, seconds, tally, base))
            elapsed = time.perf_counter() - started
            server_cpu = server.cpu_seconds() - cpu_start
            stop.set()
            sampler.join()
            rss_end = server.rss_mb()
            alive = server.process.poll() is None
    if not alive:
        tally.errors.append("the server process died")
    return {
        "users": {"detector": users, "comparison": browsers},
        "seconds": round(elapsed, 1),
        "detector": tally.summary("detector"),
        "comparison": tally.summary("comparison"),
        "requests_per_second": round(sum(len(v) for v in tally.latencies.values()) / elapsed, 2),
        "errors": len(tally.errors) + len(warm.errors),
        "error_examples": (warm.errors + tally.errors)[:5],
        # The browsers run on the same machine: the server's share of all CPU time shows how much of
        # the latency is the server's own work.
        "server_cpu_share": round(server_cpu / (elapsed * (os.cpu_count() or 1)), 2),
        "server_rss_mb": {"start": round(rss_start), "end": round(rss_end), "peak": round(max(samples or [rss_end]))},
    }


# --------------------------------------------------------------------------------------------
# Phase 2: the pipeline from many threads, 500 predictions
# --------------------------------------------------------------------------------------------


def phase_two(threads: int, predictions: int) -> dict:
    from fer_core.artifacts import list_cards, load_model
    from fer_core.faces import FaceDetector
    from fer_core.photo import analyse_photo

    name = list_cards().best() or "cnn"
    model, _ = load_model(name)
    detector = FaceDetector()
    base = face_photo()
    analyse_photo(photo_variant(base, 0), model, detector=detector)  # warm-up
    lock = threading.Lock()
    done = 0
    rss: dict[int, float] = {0: rss_mb(os.getpid())}
    latencies: list[float] = []
    errors: list[str] = []

    def worker(offset: int) -> None:
        nonlocal done
        while True:
            with lock:
                if done >= predictions:
                    return
                done += 1
                index = done
            start = time.perf_counter()
            try:
                analysis = analyse_photo(photo_variant(base, index + offset), model, detector=detector)
                if len(analysis.faces) != 1:
                    raise RuntimeError(f"expected 1 face, found {len(analysis.faces)}")
            except Exception as error:  # noqa: BLE001 - counted
                with lock:
                    errors.append(f"{type(error).__name__}: {error}")
            with lock:
                latencies.append(time.perf_counter() - start)
                if index % 50 == 0:
                    rss[index] = rss_mb(os.getpid())

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(t * 100_000,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    values = sorted(latencies)
    after_warmup = [v for k, v in sorted(rss.items()) if k >= 100]
    # Growth past the level reached after 100 predictions (the caches and thread stacks are warm by then).
    growth = max(after_warmup) - after_warmup[0] if after_warmup else float("nan")
    return {
        "model": name,
        "threads": threads,
        "predictions": len(latencies),
        "seconds": round(elapsed, 1),
        "median_s": round(statistics.median(values), 3),
        "p95_s": round(values[int(round(0.95 * (len(values) - 1)))], 3),
        "errors": len(errors),
        "error_examples": errors[:5],
        "rss_mb_by_prediction": {k: round(v) for k, v in sorted(rss.items())},
        "growth_100_to_500_mb": round(growth, 1),
        "bounded": bool(growth <= GROWTH_LIMIT_MB),
    }


#: Class-mode target: every answer acknowledged within this many seconds.
ANSWER_LIMIT_S = 1.0


def phase_three(classes: int = 2, students: int = 30, faces: int = 20) -> dict:
    """Students answering at once in ``classes`` classes on one WAL SQLite database."""
    from fer_core.classroom import Classroom, open_engine

    with tempfile.TemporaryDirectory() as folder:
        room = Classroom(open_engine(f"sqlite:///{folder}/classroom.sqlite"))
        started = [room.start("cnn", list(range(faces))) for _ in range(classes)]
        latencies: list[float] = []
        errors: list[str] = []
        lock = threading.Lock()
        gate = threading.Barrier(classes * students)

        def student(code: str, number: int) -> None:
            try:
                me = room.join(code, f"student {number}")
                gate.wait(timeout=60)  # everyone starts answering at the same moment
                for position in range(faces):
                    t = time.perf_counter()
                    room.answer(code, me.token, position, (position + number) % 7)
                    with lock:
                        latencies.append(time.perf_counter() - t)
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=student, args=(code, n)) for code, _ in started for n in range(students)]
        t0 = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=300)
        wall = time.perf_counter() - t0
        boards = [room.board(code, key) for code, key in started]
    expected = classes * students * faces
    stored = sum(board.answered for board in boards)
    isolated = all(len(board.nicknames) == students for board in boards)
    ordered = sorted(latencies)
    return {
        "classes": classes,
        "students": classes * students,
        "answers_sent": len(latencies),
        "answers_stored": stored,
        "lost": expected - stored,
        "errors": len(errors),
        "first_errors": errors[:3],
        "seconds": round(wall, 2),
        "median_ms": round(1000 * statistics.median(ordered), 1) if ordered else None,
        "p95_ms": round(1000 * ordered[int(0.95 * (len(ordered) - 1))], 1) if ordered else None,
        "max_ms": round(1000 * ordered[-1], 1) if ordered else None,
        "classes_isolated": isolated,
        "met": bool(ordered and ordered[-1] <= ANSWER_LIMIT_S and stored == expected and isolated),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10, help="detector users (browser tabs)")
    parser.add_argument("--browsers", type=int, default=2, help="tabs browsing the comparison page")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the browser phase")
    parser.add_argument("--predictions", type=int, default=500, help="predictions in the pipeline phase")
    args = parser.parse_args(argv)
    report: dict = {"date": time.strftime("%Y-%m-%d"), "cores": os.cpu_count()}
    if CHROMIUM.exists():
        print(f"[load] phase 1: {args.users} detector + {args.browsers} comparison tabs for {args.seconds:.0f} s",
              file=sys.stderr, flush=True)  # fmt: skip
        report["server"] = phase_one(args.users, args.browsers, args.seconds)
    else:
        report["server"] = {"skipped": "Debian chromium is missing at /usr/bin/chromium", "errors": 0}
    print(f"[load] phase 2: {args.predictions} predictions from 10 threads", file=sys.stderr, flush=True)
    report["pipeline"] = phase_two(10, args.predictions)
    print("[load] phase 3: 2 quiz classes x 30 students answering at once", file=sys.stderr, flush=True)
    report["classroom"] = phase_three()
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    server, pipeline, classroom = report["server"], report["pipeline"], report["classroom"]
    failed = server["errors"] or pipeline["errors"] or not pipeline["bounded"] or not classroom["met"]
    print("load test:", "FAILED" if failed else "passed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
