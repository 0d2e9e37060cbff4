"""The deploy/ templates rendered for a test domain into a temporary root, as the installer would under /."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
RENDER = ROOT / "deploy" / "render.py"
DOMAIN = "classe.college-test.fr"
WEB_PORTS = (8001, 8002)


def render_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """deploy/render.py run the way the installer runs it: Debian's python3, no venv."""
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    return subprocess.run([python, str(RENDER), *args], capture_output=True, text=True, timeout=30)


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "site.crt", directory / "site.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={DOMAIN}",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def values_for(tmp: Path, cert: Path, key: Path) -> dict[str, str]:
    """Every name the templates use, with the values scripts/install-server would give for this checkout."""
    state = tmp / "state"
    return {
        "DOMAIN": DOMAIN,
        "PREFIX": str(ROOT),
        "SERVICE_USER": "classe-virtuelle",
        "STATE_DIR": str(state),
        "ENV_FILE": str(tmp / "root" / "etc" / "classe-virtuelle" / "env"),
        "STATIC_ROOT": str(ROOT / "staticfiles"),
        "ACME_ROOT": str(tmp / "acme"),
        "TLS_CERT": str(cert),
        "TLS_KEY": str(key),
        "HSTS_SECONDS": "63072000",
        "CLIENT_MAX_BODY_SIZE": "51m",
        "WEB_UPSTREAM": "\n".join(f"server 127.0.0.1:{port} max_fails=0;" for port in WEB_PORTS),
        "DJANGO_SECRET_KEY": "test-secret-key",
        "DJANGO_ALLOWED_HOSTS": DOMAIN,
        "TRUSTED_PROXIES": "127.0.0.1,::1",
        "DATABASE_URL": "postgres://classe_virtuelle:pw@127.0.0.1:5432/classe_virtuelle",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "LDAP_URI": "ldaps://se3.college-test.fr",
        "LDAP_BASE_DN": "ou=clg-test,ou=ac-test,ou=education,o=gouv,c=fr",
        "LDAP_BIND_DN": "",
        "LDAP_BIND_PASSWORD": "",
        "LDAP_START_TLS": "0",
        "MEDIA_PUBLIC_IP": "",
        "MEDIA_ROOT": str(state / "uploads"),
        "SLIDES_MAX_BYTES": "52428800",
        "METRICS_TOKEN": "test-metrics-token",
        "TURN_URL": f"turn:{DOMAIN}:3478?transport=udp",
        "TURN_SECRET": "test-turn-secret",
        "TURN_TLS_CERT": str(cert),
        "TURN_TLS_KEY": str(key),
        "TURN_MIN_PORT": "61000",
        "TURN_MAX_PORT": "61999",
        "TURN_EXTERNAL_IP": "10.99.0.1",
        "TURN_ALLOWED_PEER_IP": "10.99.0.1",
    }


@dataclass
class Rendered:
    root: Path
    values: dict[str, str]

    def file(self, target: str) -> Path:
        return self.root / target.lstrip("/")

    @property
    def units(self) -> Path:
        return self.file("/etc/systemd/system")


@pytest.fixture(scope="session")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    """Every template rendered once for the session, with a self-signed certificate."""
    tmp = tmp_path_factory.mktemp("deploy")
    cert, key = self_signed(tmp)
    values = values_for(tmp, cert, key)
    done = render_cli("--root", str(tmp / "root"), *(f"--set={name}={value}" for name, value in values.items()))
    assert done.returncode == 0, done.stderr
    return Rendered(tmp / "root", values)
