"""Shared pieces of the browser tests: a real ``streamlit run`` on localhost and Debian's chromium."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO / "screenshots"
#: Flags for a headless chromium on a machine with no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
NO_CHROMIUM_REASON = (
    "Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium; .ci/run installs it)."
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(
    env: Mapping[str, str], log_path: Path, main: str = "streamlit_app.py", start_timeout: float = 90
) -> Iterator[str]:
    """Run ``streamlit run main`` on a free localhost port; yield its URL; stop it afterwards."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", main, "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = open(log_path, "w")  # noqa: SIM115 - closed after the server stops
    process = subprocess.Popen(command, cwd=REPO, env=dict(env), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + start_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                    if response.read() == b"ok":
                        break
            except OSError:
                pass
            if time.time() > deadline or process.poll() is not None:
                pytest.fail(f"streamlit did not start; see {log_path}")
            time.sleep(0.5)
        yield url
        assert process.poll() is None, f"the streamlit server died; see {log_path}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_idle(tab, settle: float = 1.0, network_idle: bool = False) -> None:  # noqa: ANN001 - a playwright Page
    """Wait until the Streamlit script has finished running (twice, around a short settle)."""
    selector = '[data-testid="stApp"][data-test-script-state="notRunning"]'
    tab.wait_for_selector(selector, timeout=180_000)
    if network_idle:  # charts fetch their data after the script ends
        tab.wait_for_load_state("networkidle")
    time.sleep(settle)
    tab.wait_for_selector(selector, timeout=180_000)


def assert_no_exception(tab) -> None:  # noqa: ANN001 - a playwright Page
    boxes = tab.locator('[data-testid="stException"]')
    assert boxes.count() == 0, boxes.first.inner_text()
