"""`make classroom`: the self-signed certificate for the class network, and Streamlit serving https with it."""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from support.data import REPO

from benchmarks.serving import free_port
from tools.classroom import certificate, command

x509 = pytest.importorskip("cryptography.x509")


def test_the_certificate_names_the_class_address_and_is_reused(tmp_path: Path) -> None:
    cert_path, key_path = certificate("192.0.2.7", tmp_path)
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("192.0.2.7") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert oct(key_path.stat().st_mode)[-3:] == "600"
    again, _ = certificate("192.0.2.7", tmp_path)
    assert again.read_bytes() == cert_path.read_bytes()  # still valid for that address: kept
    moved, _ = certificate("192.0.2.8", tmp_path)  # the laptop moved to another network: a new one
    new = x509.load_pem_x509_certificate(moved.read_bytes())
    assert ipaddress.ip_address("192.0.2.8") in new.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.IPAddress)


def test_streamlit_serves_the_app_over_https(tmp_path: Path) -> None:
    cert, key = certificate("127.0.0.1", tmp_path)
    port = free_port()
    cmd = command(cert, key, port)
    cmd[cmd.index("0.0.0.0")] = "127.0.0.1"  # the test only needs this computer
    env = {**os.environ, "STREAMLIT_SERVER_HEADLESS": "true", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    server = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    context = ssl.create_default_context(cafile=str(cert))  # trust exactly our certificate
    try:
        deadline, body = time.monotonic() + 90, ""
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(
                    f"https://127.0.0.1:{port}/_stcore/health", context=context, timeout=5
                ) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert body == "ok", "Streamlit did not answer over https with the classroom certificate"
    finally:
        server.terminate()
        server.wait(timeout=30)
