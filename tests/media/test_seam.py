"""The seam with aiortc: one canary per hooked name, and the version check.

A canary fails, naming the hook, when an upgrade of aiortc, aioice or pylibsrtp moves, renames or
reshapes what media_server/seam reaches into (media_server/seam/names.py lists each one and why).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection

from media_server import seam
from media_server.seam import srtp, versions
from media_server.seam.names import HOOKS, Hook


def _resolve(owner: str) -> Any:
    module_name, _, qualname = owner.partition(":")
    target: Any = importlib.import_module(module_name)
    for part in filter(None, qualname.split(".")):
        target = getattr(target, part)
    return target


@pytest.fixture(scope="module")
def instances() -> Iterator[dict[str, Any]]:
    """Real objects of each hooked class, as a subscribe connection makes them."""
    import socket

    import pylibsrtp
    from aioice.ice import CandidatePair, StunProtocol
    from aiortc.rtcdtlstransport import RtpRouter
    from aiortc.rtcrtpreceiver import StreamStatistics

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # aiortc's senders and receivers take the current loop
    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver("video", direction="sendonly")
    dtls = transceiver.sender.transport
    connection = dtls.transport._connection
    protocol = StunProtocol(connection)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    transport, _ = loop.run_until_complete(loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock))
    try:
        yield {
            "aiortc.rtcrtpreceiver:RTCRtpReceiver": transceiver.receiver,
            "aiortc.rtcrtpsender:RTCRtpSender": transceiver.sender,
            "aiortc.rtcrtptransceiver:RTCRtpTransceiver": transceiver,
            "aiortc.rtcpeerconnection:RTCPeerConnection": pc,
            "aiortc.rtcdtlstransport:RTCDtlsTransport": dtls,
            "aiortc.rtcicetransport:RTCIceTransport": dtls.transport,
            "aioice.ice:Connection": connection,
            "aioice.ice:StunProtocol": protocol,
            "aioice.ice:CandidatePair": CandidatePair,
            "aiortc.rtcdtlstransport:RtpRouter": RtpRouter(),
            "pylibsrtp:Session": pylibsrtp.Session(),
            "aiortc.rtcrtpreceiver:StreamStatistics": StreamStatistics(90000),
            "asyncio.trsock:TransportSocket": transport.get_extra_info("socket"),
        }
    finally:
        transport.close()
        loop.run_until_complete(pc.close())
        asyncio.set_event_loop(None)
        loop.close()


@pytest.mark.parametrize("hook", HOOKS, ids=[hook.id for hook in HOOKS])
def test_hooked_name_is_still_there(hook: Hook, instances: dict[str, Any]) -> None:
    try:
        owner = _resolve(hook.owner)
    except (ImportError, AttributeError) as exc:
        pytest.fail(f"{hook.id}: its owner {hook.owner} is gone ({exc}); media_server/seam uses it: {hook.reason}")
    if hook.kind == "attribute":
        instance = instances.get(hook.owner)
        assert instance is not None, f"no instance made for {hook.owner}"
        assert hasattr(instance, hook.name), f"{hook.id} is gone: media_server/seam uses it ({hook.reason})"
        return
    assert hasattr(owner, hook.name), f"{hook.id} is gone: media_server/seam uses it ({hook.reason})"
    # a name the seam replaced at import keeps what it replaced: that is what an upgrade changes
    value = getattr(getattr(owner, hook.name), "original", getattr(owner, hook.name))
    if hook.kind == "module":
        assert inspect.ismodule(value) or type(value).__name__ == "module", f"{hook.id} is no longer a module"
    elif hook.kind == "class":
        assert inspect.isclass(value), f"{hook.id} is no longer a class"
    elif hook.kind == "constant":
        assert isinstance(value, int), f"{hook.id} is no longer an int constant"
    else:
        assert callable(value), f"{hook.id} is no longer callable"
        if hook.parameters is not None:
            parameters = tuple(inspect.signature(value).parameters)
            assert parameters == hook.parameters, f"{hook.id} now takes {parameters}, the seam passes {hook.parameters}"


def test_every_hooked_name_is_listed_once() -> None:
    ids = [hook.id for hook in HOOKS]
    assert len(ids) == len(set(ids))
    assert all(hook.reason for hook in HOOKS)


def test_the_installed_versions_are_the_expected_ones() -> None:
    assert versions.problem(versions.installed()) is None


def test_another_aiortc_is_refused_with_both_versions_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(versions.CHECK_ENV, raising=False)
    found = dict(versions.EXPECTED, aiortc="9.0.0")
    with pytest.raises(versions.UnsupportedVersions) as refused:
        versions.check(found)
    message = str(refused.value)
    assert "aiortc 9.0.0" in message
    assert f"aiortc=={versions.EXPECTED['aiortc']}" in message


def test_the_check_can_be_turned_off_to_try_an_upgrade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(versions.CHECK_ENV, "0")
    versions.check(dict(versions.EXPECTED, pylibsrtp=None))


def test_importing_the_forwarder_with_another_aiortc_fails_with_the_message() -> None:
    env = {name: value for name, value in os.environ.items() if name != versions.CHECK_ENV}
    code = (
        "import importlib.metadata as m\n"
        "real = m.version\n"
        "m.version = lambda name: '9.0.0' if name == 'aiortc' else real(name)\n"
        "import media_server\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("media_server.seam.versions.UnsupportedVersions: media_server was written for")
    assert "aiortc 9.0.0" in last


def test_pylibsrtp_binding_is_the_one_the_forwarder_calls() -> None:
    srtp.check_binding()
    assert srtp.binding_problem("srtp_err_status_t(*)(struct srtp_ctx_t_ *, const uint8_t *, size_t)", 1500)
    assert srtp.binding_problem(srtp.PROTECT_SIGNATURE, 1200)


def test_seam_exports_only_what_it_defines_or_reexports() -> None:
    assert all(hasattr(seam, name) for name in seam.__all__)
