"""The server end of a browser's subscribe connection: a fixed set of sending slots.

The forwarder sends the slots' RTP itself (forwarding/); aiortc's senders never start. The hook
takes every RTCP packet the browser sends: NACKs are answered from the slots' rings, PLI and FIR
go on to the publisher, REMBs and receiver reports feed this subscriber's bandwidth estimate
(docs/media.md, "Weak connections"). Sender reports go out about once a second.
"""

from __future__ import annotations

import asyncio
import random
import struct
from time import monotonic, time
from typing import Any

from aiortc import RTCDtlsTransport, RTCRtpTransceiver, RTCSessionDescription

from . import seam
from .forwarding import Kind, Output, Slot
from .ice import RemoteCandidates, announce_public_ip
from .peerconnection import NTP_UNIX_OFFSET_MS, add_candidate, new_peer_connection
from .policy import Adaptation, BandwidthEstimator, LayerChoice, RetransmissionBudget
from .protocol import MediaError
from .rtp import ABS_SEND_TIME_URI
from .seam import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    get_capabilities,
    is_rtx,
    unpack_remb_fci,
)

SSRC = struct.Struct("!I")
NACKED_AT_MOST = 512
"""The sequence numbers of one NACK answered at most (a slot's ring holds the last 512 packets)."""
RTCP_HEADER = struct.Struct("!BBH")
# an RTCP sender report without report blocks: header, SSRC, NTP time, RTP time, packets, octets
SENDER_REPORT = struct.Struct("!BBHIQIII")


def _sdes_chunk(ssrc: int, cname: str) -> bytes:
    """Return an RTCP SDES chunk carrying a CNAME, padded to 32 bits (RFC 3550 6.5)."""
    value = cname.encode()
    # two null octets end the item list (aiortc reads the end as an item), then pad to 32 bits
    item = SSRC.pack(ssrc) + bytes([1, len(value)]) + value + b"\0\0"
    return item + bytes(-len(item) % 4)


def _codec_preferences(kind: Kind) -> list[Any]:
    capabilities = get_capabilities(kind)
    wanted = ("video/VP8", "video/H264") if kind == "video" else ("audio/opus",)
    return [c for c in capabilities.codecs if c.mimeType in wanted]


class Subscriber:
    """The server end of a browser's subscribe connection: a fixed set of sending slots."""

    def __init__(
        self,
        peer_id: str,
        public_ip: str | None,
        audio_slots: int,
        video_slots: int,
        adaptation: Adaptation | None = None,
    ) -> None:
        self.peer_id = peer_id
        self.public_ip = public_ip
        self.pc = new_peer_connection()
        self.remote_candidates = RemoteCandidates(public_ip)
        self.slots: list[Slot] = []
        self.audio_slots: list[Slot] = []
        self.video_slots: list[Slot] = []
        self._counts: list[tuple[Kind, int]] = [
            ("audio", audio_slots),
            ("video", video_slots),
        ]
        self._transceivers: list[RTCRtpTransceiver] = []
        self._by_ssrc: dict[int, Slot] = {}
        self.output: Output | None = None
        self.negotiated = False
        # the compound RTCP packet of sender reports, made by update_sender_reports before each send
        self._reports = b""
        self._rtcp_task: asyncio.Future[None] | None = None
        self.sent_sources: list[tuple[str, str] | None] | None = None
        # receive-side adaptation: what the browser's RTCP says its link carries, and the layer
        self.estimator = BandwidthEstimator(adaptation)
        self.layers = LayerChoice(adaptation)
        self.rtx_budget = RetransmissionBudget(adaptation)

    async def offer(self) -> str:
        """Create the slots and return the SDP offer."""
        with seam.without_receive_estimators():
            for kind, count in self._counts:
                preferences = _codec_preferences(kind)
                for _ in range(count):
                    # no track: the senders never start (_idle_senders), the forwarder sends
                    transceiver = self.pc.addTransceiver(kind, direction="sendonly")
                    transceiver.setCodecPreferences(preferences)
                    slot = Slot(kind, seam.sender_ssrc(transceiver.sender))
                    self.slots.append(slot)
                    (self.audio_slots if kind == "audio" else self.video_slots).append(slot)
                    self._transceivers.append(transceiver)
                    self._by_ssrc[slot.ssrc] = slot
        seam.idle_receivers(self.pc)
        seam.idle_senders(self.pc)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        dtls = self._transceivers[0].sender.transport
        self._hook(dtls)
        self.output = Output(dtls)
        for slot, transceiver in zip(self.slots, self._transceivers, strict=True):
            slot.mid = transceiver.mid or ""
            slot.output = self.output
        return announce_public_ip(self.pc.localDescription.sdp, self.public_ip)

    @property
    def ready(self) -> bool:
        """Whether packets sent to this subscriber now will reach it."""
        return self.negotiated and self.output is not None and self.output.ready

    async def accept(self, sdp: str) -> None:
        """Apply the browser's answer: learn the payload types each slot may send."""
        try:
            answer = self.remote_candidates.filter_sdp(sdp)
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
        except Exception as exc:  # aiortc raises many kinds on a bad SDP: all are the browser's fault
            raise MediaError("invalid", f"unusable SDP answer: {exc}") from exc
        for slot, transceiver in zip(self.slots, self._transceivers, strict=True):
            # what the browser's bandwidth estimator needs from us (RFC 8285 one-byte ids: 1-14)
            slot.abs_send_time_id = next(
                (
                    x.id
                    for x in seam.header_extensions(transceiver)
                    if x.uri == ABS_SEND_TIME_URI and 1 <= x.id <= 14 and slot.kind == "video"
                ),
                0,
            )
            slot.payload_types = {
                c.mimeType: c.payloadType
                for c in reversed(seam.codecs(transceiver))
                if c.payloadType is not None and not is_rtx(c)
            }
            track = slot.track
            if track is not None:
                slot.pt_map = {
                    pt: slot.payload_types[mime] for pt, mime in track.mime_types.items() if mime in slot.payload_types
                }
        seam.share_equal_lists(self._transceivers)
        seam.drop_descriptions(self.pc)
        self.negotiated = True
        if self._rtcp_task is None:
            self._rtcp_task = asyncio.ensure_future(self._run_rtcp())

    async def _run_rtcp(self) -> None:
        """Send the slots' sender reports, about once a second as aiortc's senders would."""
        dtls = self._transceivers[0].sender.transport
        while True:
            # RFC 3550: the interval varies randomly over [0.5, 1.5] times the nominal one
            await asyncio.sleep(0.5 + random.random())
            self.update_sender_reports(int(time() * 1000) + NTP_UNIX_OFFSET_MS)
            if self._reports:
                try:
                    await seam.send_rtcp(dtls, self._reports)
                except ConnectionError:
                    pass

    def _hook(self, dtls: RTCDtlsTransport) -> None:
        by_ssrc = self._by_ssrc
        estimator = self.estimator
        budget = self.rtx_budget

        def on_rtcp(data: bytes) -> None:
            try:
                packets = RtcpPacket.parse(data)
            except ValueError:
                return
            for packet in packets:
                if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
                    slot = by_ssrc.get(packet.media_ssrc)
                    if slot is not None:
                        now = monotonic()

                        def allow(size: int, now: float = now) -> bool:
                            return budget.allow(size, estimator.sent_bps, now)

                        # a NACK can name thousands of packets; the ring holds the last 512
                        for seq in dict.fromkeys(packet.lost[:NACKED_AT_MOST]):
                            slot.retransmit(seq, allow)
                elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (
                    RTCP_PSFB_PLI,
                    RTCP_PSFB_FIR,
                ):
                    ssrc = packet.media_ssrc
                    if packet.fmt == RTCP_PSFB_FIR and len(packet.fci) >= 4:
                        ssrc = SSRC.unpack_from(packet.fci, 0)[0]
                    slot = by_ssrc.get(ssrc)
                    if slot is not None:
                        slot.request_keyframe()
                else:
                    if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                        try:
                            bitrate, _ = unpack_remb_fci(packet.fci)
                        except ValueError:
                            pass
                        else:
                            estimator.on_remb(bitrate, monotonic())
                    elif isinstance(packet, (RtcpRrPacket, RtcpSrPacket)):
                        blocks = [
                            (r.ssrc, r.fraction_lost, r.highest_sequence) for r in packet.reports if r.ssrc in by_ssrc
                        ]
                        if blocks:
                            estimator.on_receiver_report(blocks, monotonic())
            # nothing goes on to aiortc's handler: its senders would only keep statistics that
            # nobody reads (round-trip times, the REMB for an encoder that does not exist)

        async def handle_rtcp_data(data: bytes) -> None:
            on_rtcp(data)

        # RTCP that takes aiortc's way (none once the socket handlers below are in place)
        seam.replace_rtcp_handler(dtls, handle_rtcp_data)
        # the browser's RTCP read in the socket callback, not through aiortc's queue and coroutines
        for protocol in seam.ice_protocols(dtls):
            seam.replace_datagram_handler(protocol, seam.srtcp_first(dtls, on_rtcp, protocol.datagram_received))

    def update_sender_reports(self, now_ms: int) -> None:
        """Make the RTCP SRs describe what the slots forwarded, for lip sync."""
        now = time()
        ntp_now = int((now + NTP_UNIX_OFFSET_MS // 1000) * (1 << 32))
        reports = []
        chunks = []
        for slot, transceiver in zip(self.slots, self._transceivers, strict=True):
            if not slot.started:
                continue
            age_ms = max(now_ms - slot.last_ms, 0)
            ntp = ntp_now - (age_ms << 32) // 1000
            reports.append(SENDER_REPORT.pack(0x80, 200, 6, slot.ssrc, ntp, slot.last_ts, slot.packets & 0xFFFFFFFF, 0))
            cname = seam.sender_cname(transceiver.sender)
            if cname is not None:
                chunks.append(_sdes_chunk(slot.ssrc, cname))
        if chunks:
            sdes = b"".join(chunks)
            reports.append(RTCP_HEADER.pack(0x80 | len(chunks), 202, len(sdes) // 4) + sdes)
        self._reports = b"".join(reports)

    async def add_candidate(self, candidate: str, mid: str | None, index: int | None) -> None:
        """Add a browser's trickled ICE candidate, if the node may send it checks."""
        await add_candidate(self.pc, self.remote_candidates, candidate, mid, index)

    async def close(self) -> None:
        """Stop every slot and close the connection."""
        for slot in self.slots:
            slot.detach()
        if self.output is not None:
            self.output.close()
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
        await self.pc.close()
