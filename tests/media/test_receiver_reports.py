"""The publisher's receiver reports: one compound RR a second for all its streams (docs/media.md).

aiortc's receivers each ran a loop sending an RR about their one stream; the publisher now sends
one RR whose report blocks cover every stream of the connection, with LSR and DLSR from the
browser's sender reports, and aiortc's loops do nothing.
"""

from __future__ import annotations

import asyncio

from aiortc.rtp import RtcpPacket, RtcpRrPacket

from .conftest import ROOM, Classroom, PatternTrack, ToneTrack, needs_netns


@needs_netns
async def test_a_publisher_gets_one_report_for_all_its_streams_with_its_round_trip(classroom: Classroom) -> None:
    alice = classroom.browser("alice")
    await classroom.allow("alice")
    await alice.publish({("camera", "normal"): PatternTrack(320, 180), ("microphone", "normal"): ToneTrack()})
    assert alice.publish_pc is not None
    senders = alice.publish_pc.getSenders()
    ssrcs = {sender._ssrc for sender in senders}  # type: ignore[attr-defined]
    dtls = senders[0].transport
    reports: list[RtcpRrPacket] = []
    handle = dtls._handle_rtcp_data

    async def record(data: bytes) -> None:
        reports.extend(p for p in RtcpPacket.parse(data) if isinstance(p, RtcpRrPacket))
        await handle(data)

    dtls._handle_rtcp_data = record  # type: ignore[method-assign]
    # alice's senders send their SRs about once a second; a report after one names it (LSR)
    async with asyncio.timeout(10):
        while not any({r.ssrc for r in rr.reports} == ssrcs and all(r.lsr for r in rr.reports) for rr in reports):
            await asyncio.sleep(0.05)
    both = next(rr for rr in reports if {r.ssrc for r in rr.reports} == ssrcs and all(r.lsr for r in rr.reports))
    assert all(0 < r.dlsr < 65536 * 5 for r in both.reports)  # seconds since the SR, in 1/65536 s
    assert all(r.highest_sequence > 0 and r.packets_lost == 0 for r in both.reports)
    # aiortc's loop per receiver (an RR about its one stream) ended at once
    publisher = classroom.node._rooms[ROOM].peers["alice"].publisher
    assert publisher is not None
    for transceiver in publisher.pc.getTransceivers():
        task = transceiver.receiver._RTCRtpReceiver__rtcp_task  # type: ignore[attr-defined]
        assert task is not None and task.done()
