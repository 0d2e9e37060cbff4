"""The rendered coturn configuration: turnserver accepts it, answers STUN and TLS, and guards its relay."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.conftest import Rendered

CONF = "/etc/turnserver.conf"
MAGIC_COOKIE = 0x2112A442


@pytest.fixture
def turnserver(rendered: Rendered, tmp_path: Path) -> Iterator[Path]:
    """turnserver in the foreground on the rendered file, logging to tmp_path instead of syslog."""
    binary = shutil.which("turnserver")
    if not binary:
        pytest.skip("coturn is not installed (scripts/install-system-deps)")
    if os.environ.get("CV_IN_NETNS") != "1":
        pytest.skip("binds 3478 and 5349: run under scripts/netns-run")
    conf = tmp_path / "turnserver.conf"
    conf.write_text(rendered.file(CONF).read_text().replace("\nsyslog\n", "\n"))
    log = tmp_path / "turn.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [binary, "-c", str(conf), "--pidfile=", "--log-file=stdout", "--no-stdout-log"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        yield log
    finally:
        process.terminate()
        process.wait(timeout=10)


def _stun_binding(port: int) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        transaction = os.urandom(12)
        request = struct.pack("!HHI", 0x0001, 0, MAGIC_COOKIE) + transaction
        for _attempt in range(20):
            sock.sendto(request, ("127.0.0.1", port))
            try:
                data, _ = sock.recvfrom(2048)
            except TimeoutError:
                continue
            assert data[8:20] == transaction
            return int(struct.unpack("!H", data[:2])[0])
    raise AssertionError("no STUN answer on 3478")


def test_turnserver_takes_the_configuration_and_answers_stun(turnserver: Path) -> None:
    assert _stun_binding(3478) == 0x0101  # Binding success response
    assert "Bad configuration format" not in turnserver.read_text(errors="replace")


def test_turnserver_serves_tls_on_5349_with_the_sites_certificate(turnserver: Path, rendered: Rendered) -> None:
    _stun_binding(3478)
    context = ssl.create_default_context(cafile=rendered.values["TURN_TLS_CERT"])
    context.check_hostname = False
    deadline = time.monotonic() + 5
    while True:
        try:
            with socket.create_connection(("127.0.0.1", 5349), timeout=2) as raw:
                with context.wrap_socket(raw) as tls:
                    assert tls.version() in {"TLSv1.2", "TLSv1.3"}
                    return
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_relay_reaches_no_private_range_but_this_hosts_media_nodes(rendered: Rendered) -> None:
    lines = set(rendered.file(CONF).read_text().splitlines())
    for private in ("10.0.0.0-10.255.255.255", "172.16.0.0-172.31.255.255", "192.168.0.0-192.168.255.255",
                    "127.0.0.0-127.255.255.255", "169.254.0.0-169.254.255.255", "::1",
                    "fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"):  # fmt: skip
        assert f"denied-peer-ip={private}" in lines
    assert f"allowed-peer-ip={rendered.values['TURN_ALLOWED_PEER_IP']}" in lines
    assert {"use-auth-secret", f"static-auth-secret={rendered.values['TURN_SECRET']}", "no-cli",
            "no-multicast-peers", "fingerprint", "syslog"} <= lines  # fmt: skip
