"""Browser end-to-end test: a real ``streamlit run`` on localhost driven by Debian's chromium.

Visits every page, checks that none shows an exception box, saves a full-page screenshot of each
under ``screenshots/`` (git-ignored), and trains ``cnn_basic`` for one epoch on 500 images.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

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
from support.data import DATA_DIR, HAS_DATA, NO_DATA_REASON

PAGES = {"home": "", "eda": "EDA", "training": "Training", "comparison": "Model_comparison"}

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM_REASON)]


@pytest.fixture(scope="module")
def server(zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``streamlit run streamlit_app.py`` on a free port, with the test zoo and a scratch runs folder."""
    tmp = tmp_path_factory.mktemp("e2e")
    models_dir = tmp / "models"
    shutil.copytree(zoo, models_dir)
    env = {
        **os.environ,
        "FER_DATA_DIR": str(DATA_DIR),
        "FER_MODELS_DIR": str(models_dir),
        "FER_RUNS_DIR": str(tmp / "runs"),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    with streamlit_server(env, tmp / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def page(server: str) -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
        )
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        tab = context.new_page()
        tab.set_default_timeout(120_000)
        yield tab
        browser.close()


def full_screenshot(tab, name: str) -> None:
    """Screenshot the whole page: Streamlit scrolls inside its own container, so grow the window to fit it."""
    SCREENSHOTS.mkdir(exist_ok=True)
    height = tab.evaluate(
        "() => Math.max(...[...document.querySelectorAll("
        '\'[data-testid="stMain"], [data-testid="stAppViewContainer"]\')]'
        ".map(e => e.scrollHeight), document.body.scrollHeight)"
    )
    tab.set_viewport_size({"width": 1400, "height": min(int(height) + 40, 12000)})
    time.sleep(1.0)
    tab.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    tab.set_viewport_size({"width": 1400, "height": 900})


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders(page, server: str, name: str) -> None:
    page.goto(f"{server}/{PAGES[name]}")
    wait_idle(page, settle=1.5, network_idle=True)
    assert_no_exception(page)
    assert page.locator('[data-testid="stSidebarNav"]').count() == 1
    if name != "training":
        assert page.locator(".js-plotly-plot").count() >= 1 or name == "home"
    full_screenshot(page, f"{list(PAGES).index(name)}_{name}.png")


def set_number(tab, label: str, value: int) -> None:
    field = tab.get_by_label(label, exact=True)
    field.fill(str(value))
    field.press("Enter")
    wait_idle(tab, settle=0.5)


@pytest.mark.skipif(not HAS_DATA, reason=NO_DATA_REASON)
def test_train_cnn_basic(page, server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    page.goto(f"{server}/Training")
    wait_idle(page, settle=1.5, network_idle=True)
    assert page.get_by_text("Expected duration here").count() or page.get_by_text("not known yet").count()
    page.get_by_text("Custom", exact=True).click()  # the lesson preset is the default; set everything here
    wait_idle(page, settle=1.0)
    set_number(page, "Training-subset size (images)", 500)
    set_number(page, "Epochs", 200)  # long enough to watch it on a projector, then stop it
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("started by A student").first.wait_for(timeout=60_000)
    assert_no_exception(page)
    # On a 1366x768 projector the live curves sit above the fold while the run trains.
    page.set_viewport_size({"width": 1366, "height": 768})
    live = page.locator(".js-plotly-plot", has_text="Loss and accuracy per epoch")
    live.first.wait_for(timeout=120_000)
    assert page.get_by_text("step 1 of 2: Training").count()  # the phase is named, of how many
    wait_idle(page, settle=1.0)
    box = live.first.bounding_box()
    assert box is not None and box["y"] + box["height"] <= 768, box
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "5_training_projector.png"))
    page.set_viewport_size({"width": 1400, "height": 900})
    full_screenshot(page, "5_training_running.png")
    with contextlib.suppress(sync_api.TimeoutError):  # early stopping (patience 5) may have ended the run
        page.get_by_role("button", name="Stop (keeps the best weights)").click(timeout=5_000)
    page.get_by_text("Finished training Basic CNN").first.wait_for(timeout=300_000)
    wait_idle(page, settle=1.5, network_idle=True)
    assert_no_exception(page)
    curves = page.locator(".js-plotly-plot", has_text="Loss and accuracy per epoch")
    assert curves.count() == 1
    assert curves.locator(".scatterlayer .point").count() >= 4  # one epoch: train and validation, loss and accuracy
    full_screenshot(page, "6_training_done.png")
    if page.get_by_text("I understand — install it anyway").count():
        # A 1-epoch run is flagged (below the baseline or the installed model): confirming is required.
        assert page.get_by_role("button", name="Use this model").is_disabled()
        page.get_by_text("I understand — install it anyway").click()
        wait_idle(page, settle=1.0)
    page.get_by_role("button", name="Use this model").click()
    page.get_by_text("Installed into").first.wait_for(timeout=60_000)
    assert_no_exception(page)
