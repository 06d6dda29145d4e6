"""Browser end-to-end tests of the emotion detector: a real ``streamlit run`` driven by Debian's chromium.

Uploads a photo through the real file picker, and runs the live webcam with Chromium's fake camera
fed from a ``.y4m`` video made at test time from scikit-image's astronaut photo. Screenshots go to
``screenshots/`` (git-ignored).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from support.browser import (
    CHROMIUM,
    CHROMIUM_ARGS,
    NO_CHROMIUM_REASON,
    SCREENSHOTS,
    assert_no_exception,
    streamlit_server,
    wait_idle,
)
from support.photos import astronaut, encode, face_frame

from fer_core.constants import EMOTIONS

#: The page's URL path: streamlit names it after pages/4_Emotion_detector.py.
PAGE_PATH = "Emotion_detector"
EMOTION_PATTERN = re.compile(rf"({'|'.join(EMOTIONS)}) \(\d+%\)")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM_REASON),
]


def write_y4m(path: Path, frame: np.ndarray, n_frames: int = 30, fps: int = 15) -> Path:
    """A short uncompressed YUV 4:2:0 video of ``frame`` (Chromium's fake camera loops it)."""
    height, width = frame.shape[:2]
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for index in range(n_frames):
            moved = np.roll(frame, shift=index % 5, axis=1)  # a little motion, like a real camera
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(moved, cv2.COLOR_RGB2YUV_I420).tobytes())  # (h * 3 / 2, w)
    return path


@pytest.fixture(scope="module")
def server(zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` on a free localhost port, with the test zoo."""
    tmp = tmp_path_factory.mktemp("detector-e2e")
    models_dir = tmp / "models"
    shutil.copytree(zoo, models_dir)
    env = {**os.environ, "FER_MODELS_DIR": str(models_dir), "TF_CPP_MIN_LOG_LEVEL": "2"}
    with streamlit_server(env, tmp / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A Chromium tab whose camera is a fake one playing the astronaut's face."""
    sync_api = pytest.importorskip("playwright.sync_api")
    video = write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m", face_frame(640, 480))
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                *CHROMIUM_ARGS,
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                f"--use-file-for-fake-video-capture={video}",
            ],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.grant_permissions(["camera"], origin=server)
        tab = context.new_page()
        tab.set_default_timeout(120_000)
        yield tab
        browser.close()


def screenshot(tab, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(SCREENSHOTS / f"detector_{name}.png"), full_page=True)


def test_upload_through_the_file_picker(page, server: str, tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(encode(astronaut(), ".jpg"))
    page.goto(f"{server}/{PAGE_PATH}")
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("never written to disk").count() == 1  # the privacy note
    with page.expect_file_chooser() as chooser:
        page.locator('[data-testid="stFileUploaderDropzone"] button').first.click()
    chooser.value.set_files(str(photo))
    page.get_by_text(re.compile(r"1 face found in \d+ ms")).wait_for(timeout=120_000)
    wait_idle(page)
    assert_no_exception(page)
    label = page.locator('[data-testid="stMarkdownContainer"]', has_text=re.compile(r"^Face 1: ")).first.inner_text()
    assert EMOTION_PATTERN.search(label), label
    assert page.locator('[data-testid="stImage"] img').count() >= 3  # annotated photo, crop, explanation
    assert page.locator(".js-plotly-plot").count() >= 1
    assert page.get_by_role("button", name="Download results (CSV)").count() == 1
    screenshot(page, "upload")
    # Streamlit scrolls inside its own container, so a "full page" shot shows the top only: scroll down.
    page.get_by_role("button", name="Download results (CSV)").scroll_into_view_if_needed()
    time.sleep(1)
    screenshot(page, "upload_results")


def tilted_and_close_up(tmp_path: Path) -> list[Path]:
    """The astronaut tilted by 35 degrees (grey corners), and a close-up where her face fills the frame."""
    rgb = astronaut()
    matrix = cv2.getRotationMatrix2D((256, 256), 35, 1.0)
    tilted = cv2.warpAffine(rgb, matrix, (512, 512), borderValue=(128, 128, 128))
    close_up = np.ascontiguousarray(rgb[40:230, 150:300])  # forehead to chin, cheek to cheek
    paths = [tmp_path / "tilted.jpg", tmp_path / "close_up.jpg"]
    for path, image in zip(paths, (tilted, close_up)):
        path.write_bytes(encode(image, ".jpg"))
    return paths


def test_a_tilted_face_and_a_close_up_are_both_found(page, server: str, tmp_path: Path) -> None:
    page.goto(f"{server}/{PAGE_PATH}")
    wait_idle(page)
    with page.expect_file_chooser() as chooser:
        page.locator('[data-testid="stFileUploaderDropzone"] button').first.click()
    chooser.value.set_files([str(path) for path in tilted_and_close_up(tmp_path)])
    page.get_by_role("button", name="Download results (CSV)").wait_for(timeout=180_000)
    wait_idle(page)
    assert_no_exception(page)
    found = page.get_by_text(re.compile(r"^1 face found in \d+ ms"))
    assert found.count() == 2, page.get_by_text(re.compile("face")).all_inner_texts()
    assert page.get_by_text("No face found").count() == 0
    screenshot(page, "tilted_close_up")


def test_video_file_tab(page, server: str, tmp_path: Path) -> None:
    from benchmarks.clips import crossing_heads, write_clip

    frames, _ = crossing_heads(45, 800, 480, 220)
    clip = write_clip(tmp_path / "two_people.mp4", frames)
    page.goto(f"{server}/{PAGE_PATH}")
    wait_idle(page)
    page.get_by_role("tab", name="Video file").click()
    with page.expect_file_chooser() as chooser:
        page.locator('[data-testid="stFileUploaderDropzone"] button').nth(1).click()
    chooser.value.set_files(str(clip))
    page.get_by_role("button", name="Analyse the video").click()
    page.get_by_text("Each person's emotions over time").wait_for(timeout=180_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text(re.compile(r"^two_people\.mp4: 45 frames .* people seen")).count() == 1
    assert page.get_by_text(re.compile(r"^Person #1 — seen")).count() == 1
    assert page.get_by_text(re.compile(r"^Person #2 — seen")).count() == 1
    assert page.locator(".js-plotly-plot").count() >= 3  # the shares and two timelines
    for name in ("Download results (CSV)", "Download results (JSON)", "Download the annotated video (MP4)"):
        assert page.get_by_role("button", name=name).count() == 1, name
    assert page.locator("video").count() >= 1  # the annotated copy plays in the page
    page.get_by_text("Each person's emotions over time").scroll_into_view_if_needed()
    time.sleep(1)
    screenshot(page, "video_file")


def test_every_model_on_one_face(page, server: str, tmp_path: Path) -> None:
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(encode(astronaut(), ".jpg"))
    page.goto(f"{server}/{PAGE_PATH}")
    wait_idle(page)
    page.get_by_text("Compare every model on each face").click()
    wait_idle(page)
    with page.expect_file_chooser() as chooser:
        page.locator('[data-testid="stFileUploaderDropzone"] button').first.click()
    chooser.value.set_files(str(photo))
    page.get_by_text(re.compile(r"^(All 7 models say|The models disagree)")).wait_for(timeout=180_000)
    wait_idle(page)
    assert_no_exception(page)
    assert page.get_by_text("classic ML").count() >= 1 and page.get_by_text("deep learning").count() >= 1
    page.get_by_text(re.compile(r"^(All 7 models say|The models disagree)")).scroll_into_view_if_needed()
    time.sleep(1)
    screenshot(page, "every_model")
    page.get_by_text("Compare every model on each face").click()  # back off for the other tests
    wait_idle(page)


def test_live_webcam_with_fake_camera(page, server: str) -> None:
    page.goto(f"{server}/{PAGE_PATH}")
    wait_idle(page)
    page.get_by_role("tab", name="Live webcam").click()
    frame = page.frame_locator('iframe[title*="webrtc"]').first
    frame.get_by_role("button", name=re.compile("^start$", re.IGNORECASE)).click()
    label = page.get_by_text(re.compile(r"^Largest face: ")).first
    label.wait_for(timeout=120_000)
    assert EMOTION_PATTERN.search(label.inner_text()), label.inner_text()
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    time.sleep(6)  # let a few seconds of timeline and a stable frame rate build up
    status = page.get_by_text(re.compile(r"frames per second")).first.inner_text()
    fps = float(re.search(r"([\d.]+) frames per second", status).group(1))
    print(f"\nlive page: {status}")
    assert fps > 0
    assert frame.locator("video").count() >= 1
    assert_no_exception(page)
    screenshot(page, "live")
    frame.get_by_role("button", name=re.compile("^stop$", re.IGNORECASE)).click()
    page.get_by_role("button", name=re.compile("live timeline")).wait_for(timeout=60_000)
    assert_no_exception(page)
    screenshot(page, "live_stopped")
