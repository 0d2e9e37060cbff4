"""Canaries for config/daphne_seam.py: each name it hooks or uses in daphne/autobahn/Twisted is still there.

They read the installed code, so an upgrade of daphne or autobahn that moves one of them fails here
(and the version check refuses to start the process) before a flood finds out. The behaviour
itself is tested on a real daphne in tests/abuse/test_flood_connection.py.
"""

from __future__ import annotations

import inspect

import pytest
from autobahn.websocket.protocol import FrameHeader, WebSocketProtocol
from daphne import ws_protocol

from config import daphne_seam


def source(function: object) -> str:
    return inspect.getsource(function)  # type: ignore[arg-type]


def test_the_installed_versions_are_the_tested_ones() -> None:
    assert daphne_seam._versions() == daphne_seam.TESTED


def test_other_versions_are_refused_unless_overridden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(daphne_seam, "_versions", lambda: {"daphne": "9.0", "autobahn": "99.1"})
    monkeypatch.delenv("CV_DAPHNE_SEAM_UNTESTED", raising=False)
    with pytest.raises(daphne_seam.SeamVersionError, match="written for"):
        daphne_seam.check_versions()
    monkeypatch.setenv("CV_DAPHNE_SEAM_UNTESTED", "1")
    daphne_seam.check_versions()


def test_the_seam_is_installed_by_the_asgi_module() -> None:
    import config.asgi  # noqa: F401

    protocol = ws_protocol.WebSocketProtocol
    assert protocol.onFrameEnd.__module__ == "config.daphne_seam"
    assert protocol.consumeData.__module__ == "config.daphne_seam"
    assert ws_protocol.WebSocketFactory.protocol is protocol


def test_canary_onFrameEnd_is_called_once_per_frame_with_its_header() -> None:
    # processData calls onFrameEnd for every complete frame, control frames included
    text = source(WebSocketProtocol.processData)
    assert "self.onFrameEnd()" in text
    assert "self.current_frame = FrameHeader(" in text
    assert "length" in inspect.signature(FrameHeader.__init__).parameters
    end = source(WebSocketProtocol.onFrameEnd)
    assert "self.processControlFrame()" in end and "self.current_frame = None" in end


def test_canary_consumeData_is_the_loop_the_seam_repeats() -> None:
    original = daphne_seam._installed.get("originals", {}).get("consumeData", WebSocketProtocol.consumeData)
    text = source(original)
    assert "while self.processData() and self.state != WebSocketProtocol.STATE_CLOSED:" in text
    assert "self.processHandshake()" in text
    # the buffer the loop parses, appended to by _dataReceived
    assert "self.data += data" in source(WebSocketProtocol._dataReceived)
    assert "self.consumeData()" in source(WebSocketProtocol._dataReceived)


def test_canary_names_used_as_they_are() -> None:
    assert {"STATE_OPEN", "STATE_CLOSING", "STATE_CLOSED"} <= set(dir(WebSocketProtocol))
    assert "abort" in inspect.signature(WebSocketProtocol.dropConnection).parameters
    assert "self.wasNotCleanReason" in source(WebSocketProtocol.dropConnection)
    # daphne's per-connection application queue and client address
    assert "self.application_queue = application_queue" in source(ws_protocol.WebSocketProtocol.applicationCreateWorked)
    assert "self.client_addr" in source(ws_protocol.WebSocketProtocol.onConnect)
    from twisted.internet.tcp import Connection

    assert callable(Connection.pauseProducing) and callable(Connection.resumeProducing)
    assert callable(Connection.abortConnection)


def test_a_bucket_holds_a_flooder_back_and_forgives_a_page() -> None:
    limits = daphne_seam.Limits(per_second=60, burst=120, abort_after=10, queue_pause=100)
    limit = daphne_seam.ConnectionLimit(limits)
    now = limit.stamp
    assert all(limit.take(1, now) == 0 for _ in range(120))
    wait = limit.take(1, now)
    assert wait == pytest.approx(1 / 60)
    assert limit.throttled_since == now
    # still over the limit after the debt is paid: still "throttled since" the first time
    assert limit.take(1, now + wait) > 0
    assert limit.throttled_since == now
    # back well under the rate: forgiven
    assert limit.take(1, now + 5) == 0
    assert limit.throttled_since is None
