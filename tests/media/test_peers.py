"""Real aiortc browsers through the real forwarder, inside a private network namespace."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
import pytest
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from aiortc.rtcrtpsender import RTCRtpSender
from aiortc.rtp import RTCP_PSFB_APP, RTCP_PSFB_PLI, RtcpPacket, RtcpPsfbPacket, RtcpSrPacket, unpack_remb_fci

from .conftest import Classroom, PatternTrack, ToneTrack, camera_layers, needs_netns

pytestmark = [needs_netns, pytest.mark.asyncio]


def camera() -> dict[tuple[str, str], Any]:
    return {("camera", "normal"): PatternTrack(320, 180)}


async def test_frames_reach_a_subscriber_and_decode(classroom: Classroom) -> None:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera())
    await bob.join()
    await bob.wait_frames("alice", "camera", count=10)


async def test_late_joiner_gets_a_keyframe_within_a_second(classroom: Classroom) -> None:
    alice, bob, carol = (classroom.browser(p) for p in ("alice", "bob", "carol"))
    await classroom.allow("alice")
    await alice.publish(camera())
    await bob.join()
    await bob.wait_frames("alice", "camera", count=5)
    await asyncio.sleep(1.5)  # the point: the last keyframe is older than the second carol is given
    await carol.join()
    assert carol.subscribe_pc is not None
    async with asyncio.timeout(5):
        while carol.subscribe_pc.connectionState != "connected":
            await asyncio.sleep(0.005)
    connected = time.monotonic()
    await carol.wait_frames("alice", "camera", count=1, timeout=1.0)
    assert time.monotonic() - connected < 1.0


async def test_muted_camera_stops(classroom: Classroom) -> None:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera())
    await bob.join()
    mid = await bob.wait_frames("alice", "camera", count=5)
    await classroom.allow("alice", video=False)
    assert bob.mid_of("alice", "camera") is None
    await asyncio.sleep(0.3)  # the frames already on their way
    frozen = bob.frames[mid]
    await asyncio.sleep(1.0)  # the point: no frame for a whole second
    assert bob.frames[mid] == frozen


async def test_revoked_screen_stops_while_camera_goes_on(classroom: Classroom) -> None:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera() | {("screen", "normal"): PatternTrack(320, 180)})
    await bob.join()
    screen = await bob.wait_frames("alice", "screen", count=5)
    await bob.wait_frames("alice", "camera", count=5)
    await classroom.allow("alice", screen=False)
    assert bob.mid_of("alice", "screen") is None
    await asyncio.sleep(0.3)  # the frames already on their way
    frozen = bob.frames[screen]
    await asyncio.sleep(1.0)  # the point: no frame for a whole second
    assert bob.frames[screen] == frozen
    await bob.wait_frames("alice", "camera", count=10)


async def test_publisher_without_ssrc_lines_is_routed_by_mid(classroom: Classroom) -> None:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera() | {("screen", "normal"): PatternTrack(320, 180)}, ssrc_lines=False)
    await bob.join()
    await bob.wait_frames("alice", "screen", count=5)
    await bob.wait_frames("alice", "camera", count=5)


async def test_low_quality_subscriber_gets_the_small_layer(classroom: Classroom) -> None:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    small = PatternTrack(160, 90)
    await alice.publish({("camera", "normal"): PatternTrack(320, 180), ("camera", "low"): small})
    await bob.join(quality="low")
    mid = await bob.wait_frames("alice", "camera", count=3)
    assert bob.subscribe_pc is not None
    track = next(t.receiver.track for t in bob.subscribe_pc.getTransceivers() if t.mid == mid)
    frame = await asyncio.wait_for(track.recv(), 5)
    assert (frame.width, frame.height) == (160, 90)
    await bob.send({"type": "media.quality", "quality": "normal"})
    async with asyncio.timeout(5):
        while (frame.width, frame.height) != (320, 180):
            frame = await track.recv()


async def test_a_camera_shown_small_gets_its_low_layer_and_back_when_shown_large(classroom: Classroom) -> None:
    """media.tiles: the cameras a page lists as thumbnails come on their low layer, the others as before."""
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish({("camera", "normal"): PatternTrack(320, 180), ("camera", "low"): PatternTrack(160, 90)})
    await bob.join()
    mid = await bob.wait_frames("alice", "camera", count=3)
    assert bob.subscribe_pc is not None
    track = next(t.receiver.track for t in bob.subscribe_pc.getTransceivers() if t.mid == mid)
    sizes = []

    async def wait_size(size: tuple[int, int]) -> None:
        async with asyncio.timeout(5):
            while not sizes or sizes[-1] != size:
                frame = await track.recv()
                sizes.append((frame.width, frame.height))

    await wait_size((320, 180))
    await bob.send({"type": "media.tiles", "small": ["alice"]})
    await wait_size((160, 90))
    await bob.send({"type": "media.tiles", "small": []})
    await wait_size((320, 180))


async def test_speaking_microphone_is_forwarded(classroom: Classroom) -> None:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish({("microphone", "normal"): ToneTrack()})
    await bob.join()
    await bob.wait_frames("alice", "microphone", count=20)


async def test_publisher_gets_bandwidth_estimates(classroom: Classroom, monkeypatch: pytest.MonkeyPatch) -> None:
    remb: list[RTCRtpSender] = []
    real = RTCRtpSender._handle_rtcp_packet

    async def spy(self: RTCRtpSender, packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            remb.append(self)
        await real(self, packet)

    monkeypatch.setattr(RTCRtpSender, "_handle_rtcp_packet", spy)
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera())
    await bob.join()
    await bob.wait_frames("alice", "camera", count=5)
    assert alice.publish_pc is not None
    senders = set(alice.publish_pc.getSenders())
    async with asyncio.timeout(5):
        while not senders & set(remb):
            await asyncio.sleep(0.05)


async def test_one_remb_covers_all_of_a_publishers_video(classroom: Classroom, monkeypatch: pytest.MonkeyPatch) -> None:
    # browsers take a REMB as the whole connection's estimate: one about the low layer alone
    # would hold the normal layer and the screen share down to the low layer's rate
    rembs: list[list[int]] = []
    real = RTCRtpSender._handle_rtcp_packet

    async def spy(self: RTCRtpSender, packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            rembs.append(unpack_remb_fci(packet.fci)[1])
        await real(self, packet)

    monkeypatch.setattr(RTCRtpSender, "_handle_rtcp_packet", spy)
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera_layers(screen=True))
    await bob.join()
    await bob.wait_frames("alice", "screen", count=3)
    assert alice.publish_pc is not None
    video = {s._ssrc for s in alice.publish_pc.getSenders() if s.kind == "video"}
    assert len(video) == 3
    async with asyncio.timeout(10):
        while not rembs or set(rembs[-1]) != video:
            await asyncio.sleep(0.05)
    assert all(set(ssrcs) <= video for ssrcs in rembs)


async def test_subscriber_gets_sender_reports_of_forwarding_slots_only(
    classroom: Classroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    compounds: list[tuple[RTCDtlsTransport, list[int]]] = []
    real = RTCDtlsTransport._handle_rtcp_data

    async def spy(self: RTCDtlsTransport, data: bytes) -> None:
        srs = [p.ssrc for p in RtcpPacket.parse(data) if isinstance(p, RtcpSrPacket)]
        if srs:
            compounds.append((self, srs))
        await real(self, data)

    monkeypatch.setattr(RTCDtlsTransport, "_handle_rtcp_data", spy)
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera() | {("microphone", "normal"): ToneTrack()})
    await bob.join()
    camera_mid = await bob.wait_frames("alice", "camera", count=5)
    microphone_mid = await bob.wait_frames("alice", "microphone", count=5)
    assert bob.subscribe_pc is not None
    transport = bob.subscribe_pc.getTransceivers()[0].receiver.transport
    forwarding = set()
    for transceiver in bob.subscribe_pc.getTransceivers():
        if transceiver.mid in (camera_mid, microphone_mid):
            forwarding |= set(transceiver.receiver._RTCRtpReceiver__remote_streams)  # type: ignore[attr-defined]
    before = len(compounds)
    await asyncio.sleep(3.2)  # the point: how many reports come in about three seconds
    received = [srs for dtls, srs in compounds[before:] if dtls is transport]
    # about one compound packet a second, each reporting both forwarding slots and no idle one
    assert 2 <= len(received) <= 7
    assert all(set(srs) == forwarding for srs in received)


async def test_subscriber_plis_reach_the_publisher_throttled(
    classroom: Classroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    plis: list[float] = []
    publisher_senders: set[RTCRtpSender] = set()
    real = RTCRtpSender._handle_rtcp_packet

    async def spy(self: RTCRtpSender, packet: Any) -> None:
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_PLI and self in publisher_senders:
            plis.append(time.monotonic())
        await real(self, packet)

    monkeypatch.setattr(RTCRtpSender, "_handle_rtcp_packet", spy)
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera())
    assert alice.publish_pc is not None
    publisher_senders.update(alice.publish_pc.getSenders())
    await bob.join()
    mid = await bob.wait_frames("alice", "camera", count=5)
    await asyncio.sleep(0.6)  # past the throttle window of the join's own PLI
    assert bob.subscribe_pc is not None
    receiver = next(t.receiver for t in bob.subscribe_pc.getTransceivers() if t.mid == mid)
    ssrc = next(iter(receiver._RTCRtpReceiver__remote_streams))  # type: ignore[attr-defined]
    before = len(plis)
    sent = time.monotonic()
    for _ in range(5):
        await receiver._send_rtcp_pli(ssrc)
    await asyncio.sleep(1.0)  # the point: past the 500 ms window that folds them
    forwarded = plis[before:]
    # one at once, the others folded into one at the end of the 500 ms window
    assert len(forwarded) == 2
    assert forwarded[0] - sent < 0.2
    assert forwarded[1] - forwarded[0] >= 0.45


async def test_no_decoder_or_encoder_runs_in_the_forwarder(
    classroom: Classroom, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoders: list[str] = []
    encoders: list[str] = []
    handled: set[RTCRtpReceiver] = set()
    real_decoder = aiortc.rtcrtpreceiver.get_decoder
    real_encoder = aiortc.rtcrtpsender.get_encoder
    real_handle = RTCRtpReceiver._handle_rtp_packet

    def spy_decoder(codec: Any) -> Any:
        decoders.append(codec.mimeType)
        return real_decoder(codec)

    def spy_encoder(codec: Any) -> Any:
        encoders.append(codec.mimeType)
        return real_encoder(codec)

    async def spy_handle(self: RTCRtpReceiver, packet: Any, arrival_time_ms: int) -> None:
        handled.add(self)
        await real_handle(self, packet, arrival_time_ms)

    monkeypatch.setattr(aiortc.rtcrtpreceiver, "get_decoder", spy_decoder)
    monkeypatch.setattr(aiortc.rtcrtpsender, "get_encoder", spy_encoder)
    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", spy_handle)

    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera())
    await bob.join()
    await bob.wait_frames("alice", "camera", count=20)

    publisher = classroom.node._rooms["room-1"].peers["alice"].publisher
    assert publisher is not None
    server_receivers = set(publisher.pc.getReceivers())
    assert not handled & server_receivers
    # one encoder in alice's browser, one decoder in bob's: none in the forwarder
    assert encoders == ["video/VP8"]
    assert decoders == ["video/VP8"]


async def test_subscriber_video_carries_abs_send_time(classroom: Classroom, monkeypatch: pytest.MonkeyPatch) -> None:
    # what a browser's receive-side bandwidth estimator reads; audio does not negotiate it
    stamps: dict[str, list[int | None]] = {"video": [], "audio": []}
    real = RTCRtpReceiver._handle_rtp_packet

    async def spy(self: RTCRtpReceiver, packet: Any, arrival_time_ms: int) -> None:
        stamps[self._RTCRtpReceiver__kind].append(packet.extensions.abs_send_time)  # type: ignore[attr-defined]
        await real(self, packet, arrival_time_ms)

    monkeypatch.setattr(RTCRtpReceiver, "_handle_rtp_packet", spy)
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await alice.publish(camera() | {("microphone", "normal"): ToneTrack()})
    await bob.join()
    await bob.wait_frames("alice", "camera", count=5)
    await bob.wait_frames("alice", "microphone", count=5)
    video = [s for s in stamps["video"] if s is not None]
    assert len(video) >= 5 and len(video) == len(stamps["video"])
    # 6.18 fixed-point seconds of the send time: non-decreasing but for the 64 s wrap
    assert all((b - a) % (1 << 24) < 1 << 23 for a, b in zip(video, video[1:], strict=False))
    assert stamps["audio"] and all(s is None for s in stamps["audio"])
