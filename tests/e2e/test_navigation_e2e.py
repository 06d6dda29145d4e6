"""Browser test: every page's URL works as a bookmark, as a server's first request or not.

Each case starts a fresh ``streamlit run`` (so the bookmark is its very first request), opens the URL
in Debian's chromium, then opens ``/Home`` and ``/``: the right page shows every time, the sidebar
always lists the same five pages, and no "Page not found" dialog appears. No dataset is needed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.browser import CHROMIUM, CHROMIUM_ARGS, NO_CHROMIUM_REASON, streamlit_server, wait_idle

from fer_ui.navigation import PAGES

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM_REASON)]

SIDEBAR = [title for _, title, _ in PAGES]
#: Each page's heading, to tell which page is showing.
HEADINGS = {
    "Home": "FER Studio",
    "EDA": "Exploring FER2013",
    "Training": "Train a model",
    "Model_comparison": "Model comparison",
    "Emotion_detector": "Emotion detector",
    "Quiz": "Can you beat the model?",
    "Responsible_use": "Responsible use",
}


@pytest.fixture(scope="module")
def browser() -> Iterator:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def visit(tab, url: str) -> tuple[list[str], str, bool]:  # noqa: ANN001 - a playwright Page
    """Open ``url``; return the sidebar's entries, the first heading and whether "Page not found" showed."""
    tab.goto(url)
    wait_idle(tab, settle=1.5)
    entries = [text.strip() for text in tab.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]
    heading = tab.locator("h1").first.inner_text().strip()
    not_found = tab.get_by_text("Page not found").count() > 0
    return entries, heading, not_found


@pytest.mark.parametrize("first", [url for _, _, url in PAGES] + [""])
def test_a_bookmark_as_the_first_request(browser, zoo: Path, tmp_path: Path, first: str) -> None:  # noqa: ANN001
    env = {
        **os.environ,
        "FER_DATA_DIR": str(tmp_path / "no-data"),  # routing must not depend on the dataset
        "FER_MODELS_DIR": str(zoo),
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    with streamlit_server(env, tmp_path / "streamlit.log") as url:
        tab = browser.new_page(viewport={"width": 1400, "height": 900})
        tab.set_default_timeout(120_000)
        for path in (first, "Home", ""):
            entries, heading, not_found = visit(tab, f"{url}/{path}")
            expected = HEADINGS[path or "Home"]
            assert entries == SIDEBAR, f"/{path} after a first request to /{first}: sidebar {entries}"
            assert heading == expected, f"/{path} after a first request to /{first}: showed {heading!r}"
            assert not not_found, f"/{path} after a first request to /{first}: 'Page not found'"
        tab.close()
