"""scripts/install-server: bad input stops it before any change; --dry-run prints the plan and changes nothing.

CV_ASSUME_ROOT, CV_OS_RELEASE and CV_CONFIG_DIR are the script's test-only overrides (see its header).
"""

from __future__ import annotations

import os
import pwd
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import DOMAIN, ROOT
from tests.services import SlapdInstance

SCRIPT = ROOT / "scripts" / "install-server"
DEBIAN_12 = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n'
# What a run would create or change on this machine; none of it may appear or change.
WATCHED = [
    Path("/etc/classe-virtuelle"),
    Path("/opt/classe-virtuelle"),
    Path("/var/lib/classe-virtuelle"),
    Path("/etc/nginx/sites-available/classe-virtuelle.conf"),
    Path("/etc/nginx/sites-enabled"),
    Path("/etc/systemd/system"),
    Path("/etc/turnserver.conf"),
    Path("/usr/local/sbin/classe-virtuelle-manage"),
]


def install_server(
    tmp_path: Path, *args: str, root: bool = True, os_release: str = DEBIAN_12
) -> subprocess.CompletedProcess[str]:
    release = tmp_path / "os-release"
    release.write_text(os_release)
    env = {
        **os.environ,
        "CV_ASSUME_ROOT": "1" if root else "0",
        "CV_OS_RELEASE": str(release),
        "CV_CONFIG_DIR": str(tmp_path / "etc"),
    }
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120)


def machine_state() -> list[tuple[str, float | None, tuple[str, ...]]]:
    state = []
    for path in WATCHED:
        listing = tuple(sorted(os.listdir(path))) if path.is_dir() else ()
        state.append((str(path), path.stat().st_mtime if path.exists() else None, listing))
    return state


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_explains_every_option(tmp_path: Path) -> None:
    done = install_server(tmp_path, "--help")
    assert done.returncode == 0
    for option in ("--domain", "--ldap-uri", "--ldap-base", "--cert", "--self-signed", "--certbot",
                   "--media-nodes", "--web-processes", "--dry-run", "--prefix"):  # fmt: skip
        assert option in done.stdout


def test_it_refuses_to_run_as_another_user_than_root(tmp_path: Path) -> None:
    done = install_server(tmp_path, "--domain", DOMAIN, "--demo-directory", root=False)
    assert done.returncode != 0
    assert "run me as root" in done.stderr


@pytest.mark.parametrize(
    "release", ['ID=debian\nVERSION_ID="11"\n', 'ID=ubuntu\nVERSION_ID="24.04"\n'], ids=["debian-11", "ubuntu"]
)
def test_it_refuses_anything_but_debian_12(tmp_path: Path, release: str) -> None:
    done = install_server(tmp_path, "--domain", DOMAIN, "--demo-directory", os_release=release)
    assert done.returncode != 0
    assert "this installer is for Debian 12 (bookworm)" in done.stderr


@pytest.mark.parametrize("domain", ["localhost", "classe_virtuelle.fr", "192.0.2.10", "-bad.example.fr", ""])
def test_it_refuses_a_domain_that_is_not_a_host_name(tmp_path: Path, domain: str) -> None:
    done = install_server(tmp_path, "--domain", domain, "--demo-directory")
    assert done.returncode != 0
    assert "--domain" in done.stderr


def test_it_needs_a_directory_or_an_explicit_demo(tmp_path: Path) -> None:
    done = install_server(tmp_path, "--domain", DOMAIN)
    assert done.returncode != 0
    assert "--ldap-uri URI --ldap-base DN" in done.stderr


def test_an_unreachable_directory_stops_it_before_any_change(tmp_path: Path) -> None:
    before = machine_state()
    uri = f"ldap://127.0.0.1:{_closed_port()}"
    done = install_server(tmp_path, "--domain", DOMAIN, "--ldap-uri", uri, "--ldap-base", "dc=x,dc=fr")
    assert done.returncode != 0
    assert f"the directory {uri} does not answer" in done.stderr and "nothing was changed" in done.stderr
    assert done.stdout == ""
    assert machine_state() == before
    assert not (tmp_path / "etc").exists()


@pytest.mark.ldap
def test_a_wrong_base_stops_it_before_any_change(tmp_path: Path, slapd: SlapdInstance) -> None:
    base = f"ou=nowhere,{slapd.base_dn}"
    done = install_server(tmp_path, "--domain", DOMAIN, "--ldap-uri", slapd.uri, "--ldap-base", base)
    assert done.returncode != 0
    assert f"has no entry '{base}'" in done.stderr
    assert not (tmp_path / "etc").exists()


@pytest.mark.ldap
def test_a_dry_run_prints_the_plan_and_changes_nothing(tmp_path: Path, slapd: SlapdInstance) -> None:
    user_existed = _user_exists("classe-virtuelle")
    before = machine_state()
    done = install_server(
        tmp_path, "--domain", DOMAIN, "--ldap-uri", slapd.uri, "--ldap-base", slapd.base_dn,
        "--web-processes", "2", "--media-nodes", "3", "--prefix", str(tmp_path / "opt"), "--dry-run",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert f"base {slapd.base_dn} found" in out
    packages = re.search(r"Debian packages: (.*)", out)
    assert packages
    wanted = set(packages.group(1).split())
    assert {"postgresql", "redis-server", "nginx", "coturn", "python3.11-venv", "libreoffice-impress-nogui"} <= wanted
    assert not {p for p in wanted if re.search(r"chromium|slapd|pytest|playwright|firefox", p)}
    assert "certbot" not in wanted
    assert "units:           cv-web@8001.service cv-web@8002.service cv-worker.service cv-beat.service " \
           "cv-media@1.service cv-media@2.service cv-media@3.service" in out  # fmt: skip
    assert "pip install" in out and f"-r {tmp_path}/opt/requirements.txt" in out
    assert "requirements-dev" not in out
    assert "/usr/bin/python3.11 -m venv" in out
    assert "+ psql as postgres: CREATE ROLE classe_virtuelle LOGIN PASSWORD '********'" in out
    assert "classe-virtuelle-manage migrate --noinput" in out
    assert "on a rerun:      migrate, web one at a time, worker, beat, media nodes one at a time" in out
    assert machine_state() == before
    assert _user_exists("classe-virtuelle") == user_existed
    assert not (tmp_path / "opt").exists() and not (tmp_path / "etc").exists()


@pytest.mark.ldap
def test_a_rerun_restarts_web_then_worker_then_beat_then_media_one_at_a_time(
    tmp_path: Path, slapd: SlapdInstance
) -> None:
    (tmp_path / "etc").mkdir()
    env = tmp_path / "etc" / "env"
    env.write_text(
        "DJANGO_SECRET_KEY=kept-secret\nDATABASE_URL=postgres://classe_virtuelle:kept-pw@127.0.0.1:5432/classe_virtuelle\nDIRECTORY_CLASS_PREFIX=Div_\n"
    )
    before = env.read_text()
    done = install_server(
        tmp_path, "--domain", DOMAIN, "--ldap-uri", slapd.uri, "--ldap-base", slapd.base_dn,
        "--web-processes", "2", "--media-nodes", "2", "--prefix", str(tmp_path / "opt"), "--dry-run",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "upgrading the installation" in out
    steps = [line for line in out.splitlines() if re.match(r"\+ (systemctl (restart|start) cv-|wait for)", line)]
    assert steps == [
        "+ systemctl restart cv-web@8001.service",
        "+ wait for http://127.0.0.1:8001/healthz",
        "+ systemctl restart cv-web@8002.service",
        "+ wait for http://127.0.0.1:8002/healthz",
        "+ systemctl restart cv-worker.service",
        "+ systemctl restart cv-beat.service",
        "+ systemctl restart cv-media@1.service",
        f"+ wait for media node {socket.gethostname()}-1 in Redis (cv:media:node:{socket.gethostname()}-1)",
        "+ systemctl restart cv-media@2.service",
        f"+ wait for media node {socket.gethostname()}-2 in Redis (cv:media:node:{socket.gethostname()}-2)",
    ]
    assert out.index("classe-virtuelle-manage migrate") < out.index("+ systemctl restart cv-web@8001.service")
    assert (
        "keeps its secrets (DJANGO_SECRET_KEY DATABASE_URL) and what was added by hand (DIRECTORY_CLASS_PREFIX)" in out
    )
    assert env.read_text() == before


@pytest.mark.skipif(Path("/run/systemd/system").is_dir(), reason="systemd runs here: a real run would install")
def test_without_systemd_it_stops_before_any_change_and_says_why(tmp_path: Path) -> None:
    before = machine_state()
    done = install_server(tmp_path, "--domain", DOMAIN, "--demo-directory", "--prefix", str(tmp_path / "opt"))
    assert done.returncode != 0
    assert "systemd is not running as PID 1 here" in done.stderr and "--no-start" in done.stderr
    assert machine_state() == before
    assert not (tmp_path / "opt").exists() and not (tmp_path / "etc").exists()
