"""A real ``streamlit run`` on localhost for the benchmark and load scripts, and process memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: Flags for a headless chromium on a machine with no network but loopback.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: The script state Streamlit's front end shows once a page's script has finished.
IDLE_SELECTOR = '[data-testid="stApp"][data-test-script-state="notRunning"]'


class ServerError(RuntimeError):
    """The Streamlit server did not start or died."""


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    started_seconds: float  # from launching the process to a healthy /_stcore/health

    def rss_mb(self) -> float:
        return rss_mb(self.process.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.process.pid)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB (Linux /proc), or NaN where unavailable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used (Linux /proc), or NaN where unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


@contextmanager
def streamlit_server(
    env: Mapping[str, str] | None, log_path: Path, main: str = "streamlit_app.py", start_timeout: float = 90
) -> Iterator[Server]:
    """Run ``streamlit run main`` on a free 127.0.0.1 port; yield it once healthy; stop it afterwards."""
    port = free_port()
    command = [
        sys.executable, "-m", "streamlit", "run", main, "--server.headless", "true", "--server.port", str(port),
        "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    log = open(log_path, "w")  # noqa: SIM115 - closed after the server stops
    start = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=REPO, env=dict(os.environ if env is None else env), stdout=log, stderr=subprocess.STDOUT
    )
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
                raise ServerError(f"streamlit did not start; see {log_path}")
            time.sleep(0.1)
        yield Server(url, process, time.perf_counter() - start)
        if process.poll() is not None:
            raise ServerError(f"the streamlit server died; see {log_path}")
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def wait_idle(tab, settle: float = 1.0, network_idle: bool = False) -> None:  # noqa: ANN001 - a playwright Page
    """Wait until the Streamlit script has finished running (twice, around a short settle)."""
    tab.wait_for_selector(IDLE_SELECTOR, timeout=180_000)
    if network_idle:  # charts fetch their data after the script ends
        tab.wait_for_load_state("networkidle")
    time.sleep(settle)
    tab.wait_for_selector(IDLE_SELECTOR, timeout=180_000)
