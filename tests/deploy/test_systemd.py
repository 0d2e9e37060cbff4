"""The rendered systemd units: systemd-analyze verify accepts them, hardened, with the documented commands."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.conftest import ROOT, Rendered

UNITS = ["cv-web@.service", "cv-worker.service", "cv-beat.service", "cv-media@.service"]
HARDENING = [
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectKernelTunables=yes",
    "ProtectControlGroups=yes",
    "LockPersonality=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK",
]


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found:
        return found
    message = "systemd-analyze is not installed (the systemd package; scripts/install-system-deps)"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def test_systemd_analyze_verify_accepts_every_unit(rendered: Rendered, tmp_path: Path) -> None:
    """Instances of the templates (cv-web@8001, cv-media@1) as enabled on a server; any warning fails."""
    for unit, name in [
        ("cv-web@.service", "cv-web@8001.service"),
        ("cv-media@.service", "cv-media@1.service"),
        ("cv-worker.service", "cv-worker.service"),
        ("cv-beat.service", "cv-beat.service"),
        ("classe-virtuelle.target", "classe-virtuelle.target"),
    ]:
        shutil.copy(rendered.units / unit, tmp_path / name)
    done = subprocess.run(
        [_systemd_analyze(), "verify", "--man=no", *sorted(str(p) for p in tmp_path.iterdir())],
        capture_output=True, text=True, timeout=60, env={**os.environ, "SYSTEMD_LOG_COLOR": "0"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr


@pytest.mark.parametrize("unit", UNITS)
def test_every_unit_runs_hardened_as_the_service_user(rendered: Rendered, unit: str) -> None:
    text = (rendered.units / unit).read_text()
    lines = set(text.splitlines())
    assert {"User=classe-virtuelle", f"EnvironmentFile={rendered.values['ENV_FILE']}"} <= lines
    assert set(HARDENING) <= lines
    assert f"ReadWritePaths={rendered.values['STATE_DIR']}" in lines
    assert "[Install]\nWantedBy=classe-virtuelle.target" in text


def test_the_web_unit_runs_daphne_behind_the_proxy_on_its_instance_port(rendered: Rendered) -> None:
    assert (
        f"ExecStart={ROOT}/.venv/bin/daphne -b 127.0.0.1 -p %i config.asgi:application"
        in (rendered.units / "cv-web@.service").read_text().splitlines()
    )


def test_a_media_node_has_time_to_hand_its_rooms_over(rendered: Rendered) -> None:
    lines = (rendered.units / "cv-media@.service").read_text().splitlines()
    assert {"KillSignal=SIGTERM", "TimeoutStopSec=15", "RestartSec=5", "Environment=MEDIA_NODE_ID=%H-%i"} <= set(lines)
    assert f"ExecStart={ROOT}/.venv/bin/python -m media_server" in lines


def test_beat_keeps_its_schedule_in_the_state_directory(rendered: Rendered) -> None:
    state = rendered.values["STATE_DIR"]
    assert f"--schedule {state}/celerybeat-schedule" in (rendered.units / "cv-beat.service").read_text()
