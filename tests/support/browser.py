"""Shared pieces of the browser tests: a real ``streamlit run`` on localhost and Debian's chromium."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks.serving import CHROMIUM, CHROMIUM_ARGS, ServerError, free_port, wait_idle
from benchmarks.serving import streamlit_server as _streamlit_server

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "screenshots"
NO_CHROMIUM_REASON = (
    "Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)."
)
__all__ = ["CHROMIUM", "CHROMIUM_ARGS", "free_port", "streamlit_server", "wait_idle", "assert_no_exception"]


@contextmanager
def streamlit_server(
    env: Mapping[str, str], log_path: Path, main: str = "streamlit_app.py", start_timeout: float = 90
) -> Iterator[str]:
    """Run ``streamlit run main`` on a free localhost port; yield its URL; stop it afterwards."""
    try:
        with _streamlit_server(env, log_path, main, start_timeout) as server:
            yield server.url
    except ServerError as exc:
        pytest.fail(str(exc))


def assert_no_exception(tab) -> None:  # noqa: ANN001 - a playwright Page
    boxes = tab.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()
