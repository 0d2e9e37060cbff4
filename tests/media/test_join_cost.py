"""What a connection's setup no longer repeats (docs/media.md, "What a join costs the node").

`bench/join_cpu.py` measures the node's CPU per publish and subscribe connection; these tests
hold each saving in place: no REMB estimator built for the forwarder's receivers (and still one
for an aiortc client's in the same process), the shared certificate hashed once, the interfaces
read once per few seconds for ICE gathering, and no policy tick for a join or a trickled candidate.
"""

from __future__ import annotations

import copy
from typing import Any

import aioice.ice
import ifaddr
import pytest
from aiortc import RTCCertificate, rtcdtlstransport

from media_server.seam import SharedCertificate, rtc

from .conftest import ROOM, Classroom, PatternTrack, ToneTrack, needs_netns


def estimator(receiver: Any) -> Any:
    return receiver._RTCRtpReceiver__remote_bitrate_estimator


@needs_netns
async def test_the_forwarders_receivers_build_no_estimator_and_a_clients_still_do(classroom: Classroom) -> None:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish({("camera", "normal"): PatternTrack(320, 180), ("microphone", "normal"): ToneTrack()})
    await bob.join()
    await bob.wait_frames("alice", "camera", count=5)
    peers = classroom.node._rooms[ROOM].peers
    publisher, subscriber = peers["alice"].publisher, peers["bob"].subscriber
    assert publisher is not None and subscriber is not None
    for pc in (publisher.pc, subscriber.pc):
        video = [t.receiver for t in pc.getTransceivers() if t.kind == "video"]
        assert video and all(estimator(receiver) is None for receiver in video)
    # bob's aiortc, a client in the same process, built its receivers outside the forwarder's
    # context: it still estimates what it receives
    assert bob.subscribe_pc is not None
    clients = [t.receiver for t in bob.subscribe_pc.getTransceivers() if t.kind == "video"]
    assert clients and all(estimator(receiver) is not None for receiver in clients)


def test_the_shared_certificates_fingerprints_are_hashed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    certificate = SharedCertificate.generateCertificate()
    expected = RTCCertificate.getFingerprints(certificate)
    calls = []
    digest = rtcdtlstransport.certificate_digest
    monkeypatch.setattr(rtcdtlstransport, "certificate_digest", lambda *a: calls.append(a) or digest(*a))
    first = certificate.getFingerprints()
    hashed = len(calls)
    second = certificate.getFingerprints()
    assert first == second == expected
    assert hashed == len(expected) and len(calls) == hashed
    first.clear()  # a caller's list is its own
    assert certificate.getFingerprints() == expected


def test_ice_gathering_reads_the_interfaces_once_per_few_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []
    adapters = ifaddr.get_adapters
    monkeypatch.setattr(ifaddr, "get_adapters", lambda *a, **k: reads.append(1) or adapters(*a, **k))
    monkeypatch.setattr(rtc, "HOST_ADDRESSES_TTL_S", 0.0)
    fresh = aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False)
    assert len(reads) == 1
    monkeypatch.setattr(rtc, "HOST_ADDRESSES_TTL_S", 3600.0)
    for _ in range(3):
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == fresh
    assert len(reads) == 1


@needs_netns
async def test_messages_that_set_a_connection_up_run_no_policy_tick(
    classroom: Classroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    bob = classroom.browser("bob")
    classroom.browser("carol")  # takes what the node sends carol below
    await bob.join()
    node = classroom.node
    ticks = []
    update = node._update_locked

    async def counted(room: Any) -> None:
        ticks.append(room.id)
        await update(room)

    assert node._ticker is not None
    node._ticker.cancel()  # the rooms' periodic tick: only the messages' ticks are counted
    monkeypatch.setattr(node, "_update_locked", counted)
    candidate = {
        "type": "media.candidate",
        "pc": "subscribe",
        "candidate": "candidate:1 1 udp 2122260223 10.99.0.1 50000 typ host",
        "sdp_mid": "0",
        "sdp_mline_index": 0,
    }
    await node.handle(ROOM, "bob", candidate)
    assert ticks == []
    # nor does a join: the new subscriber is not up before its answer and handshake
    await node.handle(ROOM, "carol", {"type": "media.join", "quality": "normal"})
    assert ticks == []
    await node.handle(ROOM, "bob", {"type": "media.quality", "quality": "low"})
    assert ticks == [ROOM]


def test_negotiation_copies_codecs_by_their_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    from aiortc import rtcpeerconnection
    from aiortc.codecs import CODECS

    local = CODECS["video"]
    remote = [copy.deepcopy(codec) for codec in local]
    expected = [codec for codec in local if not codec.mimeType.endswith("/rtx")]
    generic = []
    deepcopy = copy.deepcopy
    monkeypatch.setattr(copy, "deepcopy", lambda *a: generic.append(a) or deepcopy(*a))
    common = rtcpeerconnection.find_common_codecs(local, remote)
    assert [(c.mimeType, c.parameters, c.rtcpFeedback) for c in common if not c.mimeType.endswith("/rtx")] == [
        (c.mimeType, c.parameters, c.rtcpFeedback) for c in expected
    ]
    # nothing shared with the capabilities, yet no generic deepcopy walked a codec
    for made in common:
        assert all(made.rtcpFeedback is not c.rtcpFeedback and made.parameters is not c.parameters for c in local)
    assert generic == []
