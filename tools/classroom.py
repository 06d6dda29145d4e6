"""Serve FER Studio to a classroom over https, so students' devices may use their cameras.

Browsers give cameras only to secure pages (https, or the computer running the app), so the plain
http set-up cannot offer the snapshot or live tabs to students' devices. This command:

1. finds this computer's address on the local network;
2. makes a self-signed certificate for it (the ``cryptography`` package; kept in the git-ignored
   ``.streamlit/classroom/``, valid 30 days, made again when the address changes or it expires);
3. prints the join link of the quiz and its QR code, and starts ``streamlit run`` on all addresses
   with ``server.sslCertFile`` / ``server.sslKeyFile``.

Students' browsers warn once about the self-signed certificate ("not private"): choose to continue
(Advanced → Proceed). Use it on a trusted school network only. ``make classroom`` runs it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import os
import socket
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CERT_DIR = REPO / ".streamlit" / "classroom"


def local_address() -> str:
    """This computer's address on the local network (no packet is sent), else 127.0.0.1."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        probe.close()


def certificate(address: str, folder: Path = CERT_DIR, days: int = 30) -> tuple[Path, Path]:
    """(certificate, key) files for ``address``: reused while valid for it, else made anew."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    now = dt.datetime.now(dt.UTC)
    if cert_path.exists() and key_path.exists():
        existing = x509.load_pem_x509_certificate(cert_path.read_bytes())
        names = existing.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        if ipaddress.ip_address(address) in names.get_values_for_type(x509.IPAddress) and (
            existing.not_valid_after_utc > now + dt.timedelta(days=1)
        ):
            return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"FER Studio classroom ({address})")])
    alternative = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if address != "127.0.0.1":
        alternative.append(x509.IPAddress(ipaddress.ip_address(address)))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alternative), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(key_path, 0o600)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def command(cert: Path, key: Path, port: int) -> list[str]:
    """The ``streamlit run`` command line serving the app on every address over https."""
    return [
        sys.executable, "-m", "streamlit", "run", str(REPO / "streamlit_app.py"),
        "--server.address", "0.0.0.0", "--server.port", str(port),
        "--server.sslCertFile", str(cert), "--server.sslKeyFile", str(key),
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8501)
    parser.add_argument("--address", help="the address students use (default: found automatically)")
    parser.add_argument("--dry-run", action="store_true", help="make the certificate and print, but do not start")
    args = parser.parse_args(argv)
    address = args.address or local_address()
    try:
        ipaddress.ip_address(address)
    except ValueError:
        print(f"error: {address} is not an IP address", file=sys.stderr)
        return 2
    cert, key = certificate(address)
    link = f"https://{address}:{args.port}/Quiz"
    print(f"Students join at {link}")
    print("Their browser warns once about the self-signed certificate: Advanced -> Proceed.")
    import segno

    segno.make(link, error="m").terminal(compact=True)
    cmd = command(cert, key, args.port)
    print(" ".join(cmd), flush=True)
    if args.dry_run:
        return 0
    os.chdir(REPO)
    os.execv(sys.executable, cmd)
    return 0  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
