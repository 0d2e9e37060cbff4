"""The browsers' RTCP is read in the socket callback, not through aiortc's queue and coroutines.

aiortc's way for each RTCP packet: aioice tries to parse it as STUN, queues it, and the DTLS
transport's coroutine unprotects, parses and routes it on a later turn of the loop. The node
takes SRTCP straight from the socket (`seam.srtcp_first`): a subscriber's NACKs, PLIs, REMBs and
receiver reports go to its slots and estimator, a publisher's sender reports give its receiver
reports their LSR. What still reaches aioice's queue (DTLS) must hold no RTCP.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import RTCDtlsTransport

from .conftest import ROOM, Classroom, PatternTrack, ToneTrack, needs_netns


def record_queued_rtcp(dtls: RTCDtlsTransport) -> list[bytes]:
    """Note each RTCP datagram that aioice queues for the DTLS transport's coroutine."""
    connection: Any = dtls.transport._connection
    queued: list[bytes] = []
    data_received = connection.data_received

    def noting(data: bytes, component: int) -> None:
        if len(data) >= 2 and 191 < data[1] < 209:
            queued.append(data)
        data_received(data, component)

    connection.data_received = noting
    return queued


@needs_netns
async def test_the_browsers_rtcp_skips_aiortcs_queue_on_both_connections(classroom: Classroom) -> None:
    alice, bob = classroom.browser("alice"), classroom.browser("bob")
    await classroom.allow("alice")
    await bob.join()
    await alice.publish({("camera", "normal"): PatternTrack(320, 180), ("microphone", "normal"): ToneTrack()})
    await bob.wait_frames("alice", "camera")
    peers = classroom.node._rooms[ROOM].peers
    publisher, subscriber = peers["alice"].publisher, peers["bob"].subscriber
    assert publisher is not None and subscriber is not None
    dtls = {transceiver.receiver.transport for transceiver in publisher.pc.getTransceivers()}
    queued = [record_queued_rtcp(transport) for transport in dtls]
    queued.append(record_queued_rtcp(subscriber.pc.getTransceivers()[0].sender.transport))
    published = {sender._ssrc for sender in alice.publish_pc.getSenders()}  # type: ignore[union-attr]
    publisher._sender_reports.clear()
    subscriber.estimator._highest.clear()
    # alice's senders send an SR about once a second, bob's receivers an RR about what he gets
    async with asyncio.timeout(10):
        while set(publisher._sender_reports) != published or not subscriber.estimator._highest:
            await asyncio.sleep(0.05)
    # the SRs were read (their NTP time's middle bits, as an RR's LSR echoes them) ...
    assert all(lsr > 0 for lsr, _ in publisher._sender_reports.values())
    # ... and bob's RRs name the slots that forward alice to him
    assert set(subscriber.estimator._highest) <= {slot.ssrc for slot in subscriber.slots}
    assert queued == [[] for _ in queued]  # none of it went round aiortc's coroutines


async def test_a_publishers_sender_reports_are_read_by_their_headers() -> None:
    from media_server.publisher import Publisher

    publisher = Publisher("alice", None)
    try:
        publisher._by_ssrc[0x11111111] = publisher._by_ssrc[0x22222222] = (Any, Any)  # type: ignore[assignment]
        sr = bytes.fromhex("80c8000611111111aaaabbbbccccdddd000000000000000500000100")
        sdes = bytes.fromhex("81ca0003111111110102616200000000")  # another packet type
        unknown = bytes.fromhex("80c80006333333330000111122223333000000000000000000000000")
        truncated = bytes.fromhex("80c80006222222221111")  # an SR cut short: no time to read
        publisher._on_rtcp(sdes + sr + unknown + truncated)
        assert publisher._sender_reports.keys() == {0x11111111}  # SSRCs it does not publish are not kept
        assert publisher._sender_reports[0x11111111][0] == 0xBBBBCCCC  # the middle 32 bits of the NTP time
        publisher._on_rtcp(bytes.fromhex("80c8"))  # shorter than a header: nothing, no error
        publisher._on_rtcp(bytes.fromhex("80c8ffff22222222"))  # a length past the end: nothing
        assert publisher._sender_reports.keys() == {0x11111111}
    finally:
        await publisher.pc.close()
