"""Browser test of the quiz: a 10-face round in Debian's chromium, to the reveal and the final scores."""

from __future__ import annotations

import os
import re
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

from fer_core.constants import EMOTIONS

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason=NO_CHROMIUM_REASON),
    pytest.mark.skipif(
        not (HAS_DATA and (DATA_DIR.parent / "ferplus" / "votes.csv").is_file()),
        reason=NO_DATA_REASON + " The quiz also needs ferplus/votes.csv.",
    ),
]


@pytest.fixture(scope="module")
def server(zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("quiz-server")
    env = {
        **os.environ,
        "FER_MODELS_DIR": str(zoo),
        "FER_CLASSROOM_URL": f"sqlite:///{tmp / 'classroom.sqlite'}",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    with streamlit_server(env, tmp / "streamlit.log") as url:
        yield url


def test_a_ten_face_round(server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        tab = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        tab.set_default_timeout(120_000)
        tab.goto(f"{server}/Quiz")
        wait_idle(tab)
        assert_no_exception(tab)
        tab.get_by_role("button", name="Start a new round").click()
        for face in range(10):
            tab.get_by_text(f"Face {face + 1} of 10").wait_for()
            tab.get_by_role("button", name=EMOTIONS[face % 7], exact=True).click()
            tab.get_by_text(re.compile(r"^You said ")).wait_for()
            assert tab.get_by_text("What 10 people said (FER+ votes)").count() == 1
            if face == 0:
                time.sleep(1)
                SCREENSHOTS.mkdir(exist_ok=True)
                tab.screenshot(path=str(SCREENSHOTS / "quiz_reveal.png"), full_page=True)
            tab.get_by_role("button", name="See the scores" if face == 9 else "Next face").click()
        tab.get_by_text("Your scores").wait_for()
        wait_idle(tab)
        assert_no_exception(tab)
        assert tab.get_by_text(re.compile(r"^On these 10 faces ")).count() == 1
        assert tab.get_by_text("FER+ crowd (majority of 10 people)").count() == 1
        tab.screenshot(path=str(SCREENSHOTS / "quiz_scores.png"), full_page=True)
        browser.close()
