"""What a subscribe connection keeps of aiortc's objects (docs/media.md, "aiortc internals hooked").

The server frees what its sendonly slots never use and shares one DTLS certificate and SSL
context; media, sender reports, ICE restarts and closes go on as before.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiortc.rtcdtlstransport import SRTP_PROFILES, RTCDtlsTransport
from aiortc.rtp import RtcpPacket, RtcpSdesPacket
from OpenSSL import SSL

from media_server import peerconnection
from media_server.seam import SharedCertificate
from media_server.subscriber import Subscriber

from .conftest import ROOM, Browser, Classroom, PatternTrack, ToneTrack, needs_netns


def camera_and_microphone() -> dict[tuple[str, str], Any]:
    return {("camera", "normal"): PatternTrack(320, 180), ("microphone", "normal"): ToneTrack()}


async def receiving(classroom: Classroom) -> tuple[Browser, Subscriber]:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera_and_microphone())
    await bob.join()
    await bob.wait_frames("alice", "camera", count=5)
    await bob.wait_frames("alice", "microphone", count=5)
    subscriber = classroom.node._rooms[ROOM].peers["bob"].subscriber
    assert subscriber is not None
    return bob, subscriber


@needs_netns
async def test_a_subscriber_keeps_nothing_of_what_its_slots_never_use(classroom: Classroom) -> None:
    _, subscriber = await receiving(classroom)
    pc = subscriber.pc
    transceivers = pc.getTransceivers()
    assert len(transceivers) == 3 + classroom.node.video_slots
    for transceiver in transceivers:
        receiver, sender = transceiver.receiver, transceiver.sender
        for name in ("jitter_buffer", "nack_generator", "decoder_queue", "rtcp_started", "rtcp_exited"):
            assert getattr(receiver, f"_RTCRtpReceiver__{name}") is None, name
        assert receiver._RTCRtpReceiver__remote_bitrate_estimator is None  # type: ignore[attr-defined]
        # aiortc's sender never started: no track, no RTP or RTCP task, no Events
        assert sender.track is None
        assert sender._RTCRtpSender__rtp_task is None
        assert sender._RTCRtpSender__rtcp_task is None
        for name in ("rtp_started", "rtp_exited", "rtcp_started", "rtcp_exited"):
            assert getattr(sender, f"_RTCRtpSender__{name}") is None, name
        # but it knows the CNAME of the sender reports' SDES chunks
        assert sender._RTCRtpSender__cname == pc._RTCPeerConnection__cname
    assert pc.localDescription is None and pc.remoteDescription.sdp.count("m=") == 0
    for kind in ("audio", "video"):
        same = [t for t in transceivers if t.kind == kind]
        assert all(t._codecs is same[0]._codecs for t in same)
        assert all(t._headerExtensions is same[0]._headerExtensions for t in same)
    video = next(s for s in subscriber.video_slots if s.track is not None)
    assert video.payload_types.get("video/VP8")


@needs_netns
async def test_sender_reports_still_name_the_subscribers_cname(
    classroom: Classroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    cnames: list[tuple[RTCDtlsTransport, bytes]] = []
    real = RTCDtlsTransport._handle_rtcp_data

    async def spy(self: RTCDtlsTransport, data: bytes) -> None:
        for packet in RtcpPacket.parse(data):
            if isinstance(packet, RtcpSdesPacket):
                cnames.extend((self, value) for chunk in packet.chunks for kind, value in chunk.items if kind == 1)
        await real(self, data)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtcp_data", spy)
    bob, subscriber = await receiving(classroom)
    assert bob.subscribe_pc is not None
    transport = bob.subscribe_pc.getTransceivers()[0].receiver.transport
    expected = subscriber.pc._RTCPeerConnection__cname.encode()  # type: ignore[attr-defined]
    async with asyncio.timeout(5):
        while not any(dtls is transport for dtls, _ in cnames):
            await asyncio.sleep(0.05)
    assert {cname for dtls, cname in cnames if dtls is transport} == {expected}


@needs_netns
async def test_a_restarted_subscriber_receives_again_and_the_old_one_is_closed(classroom: Classroom) -> None:
    bob, old = await receiving(classroom)
    await bob.send({"type": "media.restart", "pc": "subscribe"})
    offer = await bob.expect("media.offer")
    assert offer["restart"] is True
    assert old.pc.connectionState == "closed"
    await bob.accept_offer(offer)
    await bob.wait_frames("alice", "camera", count=5)
    await bob.wait_frames("alice", "microphone", count=5)
    new = classroom.node._rooms[ROOM].peers["bob"].subscriber
    assert new is not None and new is not old
    # leaving for good (not parked for a resume elsewhere): the connection closes at once
    await classroom.node.leave(ROOM, "bob", park=False)
    assert new.pc.connectionState == "closed"


@needs_netns
async def test_every_connection_shares_one_certificate_and_ssl_context(classroom: Classroom) -> None:
    _, subscriber = await receiving(classroom)
    publisher = classroom.node._rooms[ROOM].peers["alice"].publisher
    assert publisher is not None
    transports = [pc.getTransceivers()[0].receiver.transport for pc in (publisher.pc, subscriber.pc)]
    certificates = {id(dtls._RTCDtlsTransport__local_certificate) for dtls in transports}  # type: ignore[attr-defined]
    assert len(certificates) == 1
    contexts = {dtls._ssl.get_context() for dtls in transports if dtls._ssl is not None}
    assert len(contexts) == 1


def test_the_shared_context_releases_idle_buffers_and_resumes_no_session() -> None:
    certificate = SharedCertificate.generateCertificate()
    context = certificate._create_ssl_context(SRTP_PROFILES)
    assert certificate._create_ssl_context(SRTP_PROFILES) is context
    # set_mode and set_options add nothing here and return what is set (before any connection:
    # pyOpenSSL refuses to change a context in use)
    assert context.set_mode(0) & SSL.MODE_RELEASE_BUFFERS
    assert context.get_session_cache_mode() == SSL.SESS_CACHE_OFF
    assert context.set_options(0) & SSL.OP_NO_TICKET


async def test_the_shared_certificate_is_renewed_after_a_day(monkeypatch: pytest.MonkeyPatch) -> None:
    first = peerconnection.new_peer_connection()
    second = peerconnection.new_peer_connection()
    certificate = first._RTCPeerConnection__certificates[0]  # type: ignore[attr-defined]
    assert second._RTCPeerConnection__certificates[0] is certificate  # type: ignore[attr-defined]
    monkeypatch.setattr(certificate, "created", certificate.created - peerconnection.CERTIFICATE_RENEWAL_S - 1)
    third = peerconnection.new_peer_connection()
    assert third._RTCPeerConnection__certificates[0] is not certificate  # type: ignore[attr-defined]
    for pc in (first, second, third):
        await pc.close()


@needs_netns
async def test_a_candidate_trickled_after_the_answer_still_reaches_ice_quietly(
    classroom: Classroom, caplog: pytest.LogCaptureFixture
) -> None:
    _, subscriber = await receiving(classroom)
    ice = subscriber.pc.getTransceivers()[0].receiver.transport.transport
    # the test's aiortc browser ends its candidates in its answer; a browser that trickles has not
    ice._RTCIceTransport__iceGatherer._remote_candidates_end = False
    ice._connection._remote_candidates_end = False
    before = len(ice._connection._remote_candidates)
    with caplog.at_level("WARNING"):
        await subscriber.add_candidate("candidate:1 1 udp 2122260223 10.99.0.1 50000 typ host", "0", 0)
    assert len(ice._connection._remote_candidates) == before + 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == []
