"""The server end of a browser's publish connection, hooked into aiortc's transports.

aiortc does ICE, DTLS-SRTP, SDP and the receive-side feedback (NACKs and REMB to the publisher,
from aiortc's own objects fed here); the publisher sends one compound receiver report for all its
streams (_run_rtcp) in place of aiortc's one per receiver. The hook takes every RTP packet in the
socket callback, before aiortc's jitter buffer and decoder, and hands it to its Track: in C
(_fastpath.Receiver, which calls back here only for what is not per packet) when the extension
is built, else in Python (_receive_srtp). With the C path, one epoll set per event loop
(_fastpath.ReceiveSet) reads every publisher socket, in place of asyncio's reader per socket.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import socket
import struct
import weakref
from collections import deque
from collections.abc import Callable
from functools import partial
from time import time
from typing import Any

from aiortc import RTCDtlsTransport, RTCPeerConnection, RTCRtpReceiver, RTCRtpTransceiver, RTCSessionDescription

from . import seam
from .forwarding import NATIVE_RECEIVE, READ_SIZE, RECEIVE_SET, Track, bursts
from .forwarding.native import _fastpath
from .ice import RemoteCandidates, announce_public_ip
from .peerconnection import NTP_UNIX_OFFSET_MS, add_candidate, new_peer_connection
from .protocol import MediaError, Offer, PublishedTrack
from .rtp import ABS_SEND_TIME_URI, find_extension
from .seam import (
    NackGenerator,
    RemoteBitrateEstimator,
    RtcpReceiverInfo,
    RtcpRrPacket,
    StreamStatistics,
    StunProtocol,
    add_to_nack_generator,
    is_rtx,
)

logger = logging.getLogger(__name__)

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
SSRC = struct.Struct("!I")
MID_LINE = re.compile(r"^a=mid:([^\s]+)", re.MULTILINE)
SEQ_TS = struct.Struct("!HI")
RTCP_SR = 200
RTCP_LENGTH = struct.Struct("!H")
SR_TIMES = struct.Struct("!I2xI")
"""A sender report's SSRC, then the middle 32 bits of its NTP time (what an RR's LSR echoes)."""
MAX_DATAGRAM = seam.SESSION_BUFFER
"""The largest SRTP packet unprotected in the socket callback (pylibsrtp's session buffer)."""
DRAIN = 16
"""Datagrams a publisher socket's callback reads after the one asyncio gave it, if queued."""
SOURCE_KINDS = {"microphone": "audio", "camera": "video", "screen": "video"}
RATE_WINDOW_S = 2.0
"""Incoming bitrates are measured over this long: a few frames, a keyframe smoothed out."""


_RECEIVE_SETS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = weakref.WeakKeyDictionary()


def receive_set() -> Any | None:
    """Return the running loop's epoll set of publisher sockets, registered as one reader; None if unused."""
    if not RECEIVE_SET:
        return None
    loop = asyncio.get_running_loop()
    found = _RECEIVE_SETS.get(loop)
    if found is None:
        found = _RECEIVE_SETS[loop] = _fastpath.ReceiveSet()
        loop.add_reader(found.fileno(), found.drain)
    return found


class _PacketView:
    """The fields of an RTP packet that aiortc's statistics and routing read, reused."""

    __slots__ = ("payload_type", "sequence_number", "ssrc", "timestamp")

    def __init__(self) -> None:
        self.ssrc = 0
        self.payload_type = 0
        self.sequence_number = 0
        self.timestamp = 0


class Bitrate:
    """The bitrate of a byte counter over the last RATE_WINDOW_S, sampled by the node's ticks."""

    __slots__ = ("bps", "samples")

    def __init__(self) -> None:
        self.bps = 0.0
        self.samples: deque[tuple[float, int]] = deque()

    def sample(self, total_bytes: int, now: float) -> None:
        """Add a reading of the counter and update bps."""
        samples = self.samples
        samples.append((now, total_bytes))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        start, start_bytes = samples[0]
        self.bps = (total_bytes - start_bytes) * 8 / (now - start) if now > start else 0.0


class _Feedback:
    """Receive statistics, NACKs and REMB of one incoming stream, fed to aiortc's own objects."""

    __slots__ = ("abs_send_time_id", "bitrate", "bytes", "estimator", "nacks", "receiver", "ssrc", "stats", "view")

    def __init__(
        self,
        receiver: RTCRtpReceiver,
        ssrc: int,
        clock_rate: int,
        abs_send_time_id: int,
        estimator: RemoteBitrateEstimator | None,
    ) -> None:
        self.receiver = receiver
        self.ssrc = ssrc
        self.stats = StreamStatistics(clock_rate)
        self.nacks: NackGenerator | None = seam.nack_generator(receiver)
        # one estimator for all of a publisher's video, not aiortc's one per receiver: browsers take
        # each REMB as the whole connection's estimate, so a REMB about the low camera layer alone
        # would cap the normal layer and the screen share to it
        self.estimator = estimator
        self.abs_send_time_id = abs_send_time_id
        self.view = _PacketView()
        # what this stream costs each subscriber it is forwarded to (receive-side adaptation); the
        # header extensions counted here are not forwarded: a few per cent, within the margins
        self.bytes = 0
        self.bitrate = Bitrate()

    def add(self, data: bytes, arrival_ms: int) -> None:
        """Account for one incoming packet; send a NACK or a REMB when aiortc's objects ask."""
        self.bytes += len(data)
        view = self.view
        view.sequence_number, view.timestamp = SEQ_TS.unpack_from(data, 2)
        self.stats.add(view)  # type: ignore[arg-type]
        nacks = self.nacks
        if nacks is not None and add_to_nack_generator(nacks, view):
            seam.send_nack(self.receiver, self.ssrc, sorted(nacks.missing))
        if self.estimator is not None:
            # REMB, so that the browser's encoder ramps up to what the path carries
            value = find_extension(data, self.abs_send_time_id)
            if value is not None and len(value) == 3:
                remb = self.estimator.add(
                    abs_send_time=int.from_bytes(value, "big"),
                    arrival_time_ms=arrival_ms,
                    payload_size=len(data) - 12,
                    ssrc=self.ssrc,
                )
                if remb is not None:
                    seam.send_remb(self.receiver, *remb)

    def nack(self, seq: int, max_seq: int) -> tuple[int, bool]:
        """Feed aiortc's NACK generator a packet the C receive path did not take in order.

        max_seq is the last in-order sequence number C saw (-1: none); returns the generator's
        max_seq and whether packets are still missing (C then hands over every packet).
        """
        nacks = self.nacks
        if nacks is None:
            return max_seq, False
        nacks.max_seq = max_seq if max_seq >= 0 else None
        self.view.sequence_number = seq
        if add_to_nack_generator(nacks, self.view):
            seam.send_nack(self.receiver, self.ssrc, sorted(nacks.missing))
        return (-1 if nacks.max_seq is None else nacks.max_seq), bool(nacks.missing)

    def load(self, native: Any) -> None:
        """Copy the counts the C receive path kept into aiortc's statistics (and bytes)."""
        counts = native.stream_stats(self.ssrc)
        if counts is not None:
            base_seq, max_seq, cycles, received, jitter_q4, self.bytes = counts
            seam.load_statistics(self.stats, base_seq, max_seq, cycles, received, jitter_q4)


def _receive_srtp(
    dtls: RTCDtlsTransport, protocol: StunProtocol, on_rtp: Callable[[bytes, int], None]
) -> Callable[[bytes, tuple[Any, ...]], None]:
    """Return a datagram handler that unprotects SRTP and forwards it in the same call.

    aiortc's own path queues each datagram for a chain of coroutines (ICE, DTLS, RTP parse,
    routing) and tries to parse it as STUN first; STUN, DTLS and RTCP still take it.
    """
    original = protocol.datagram_received
    unprotect = seam.rtp_unprotector(dtls)

    def one(data: bytes, addr: tuple[Any, ...]) -> None:
        n = len(data)
        # RTP (first byte 128-191, not an RTCP packet type) once DTLS-SRTP is up
        if 11 < n <= MAX_DATAGRAM and 127 < data[0] < 192 and not 191 < data[1] < 209:
            plain = unprotect(data)
            if plain is not None:
                if plain:
                    on_rtp(plain, int(time() * 1000) + NTP_UNIX_OFFSET_MS)
                return
        original(data, addr)

    raw = seam.raw_socket(getattr(protocol, "transport", None))
    if raw is None:
        return one
    recvfrom = raw.recvfrom

    def datagram_received(data: bytes, addr: tuple[Any, ...]) -> None:
        # a video frame comes as a burst of datagrams: read those already queued here rather than
        # going round the event loop (a poll and a callback) for each, and forward each track's
        # packets together at the end (see Bursts)
        bursts.collecting = True
        try:
            one(data, addr)
            for _ in range(DRAIN):
                try:
                    data, addr = recvfrom(READ_SIZE)
                except (BlockingIOError, InterruptedError):
                    return
                except OSError:  # closing, or an ICMP error on the socket: asyncio's reader deals with it
                    return
                one(data, addr)
        finally:
            bursts.flush()

    return datagram_received


def _dtls_transports(pc: RTCPeerConnection) -> list[RTCDtlsTransport]:
    seen: dict[int, RTCDtlsTransport] = {}
    for transceiver in pc.getTransceivers():
        dtls = transceiver.receiver.transport
        seen[id(dtls)] = dtls
    return list(seen.values())


class Publisher:
    """The server end of a browser's publish connection: one Track per published transceiver."""

    def __init__(self, peer_id: str, public_ip: str | None) -> None:
        self.peer_id = peer_id
        self.public_ip = public_ip
        self.pc = new_peer_connection()
        self.remote_candidates = RemoteCandidates(public_ip)
        self.tracks: dict[str, Track] = {}
        self._by_receiver: dict[RTCRtpReceiver, Track] = {}
        self._by_ssrc: dict[int, tuple[Track, _Feedback]] = {}
        self._feedback: dict[Track, _Feedback] = {}
        # the C receive path that counts each stream, when it does (see measure)
        self._native: dict[_Feedback, Any] = {}
        self._view = _PacketView()
        self._hooked: set[int] = set()
        # the sockets the loop's receive set reads for this publisher: (descriptor, socket)
        self._read_by_set: list[tuple[int, socket.socket]] = []
        self._receive_set: Any | None = None
        self._mid_ext_id = 0
        self._abs_send_time_id = 0
        # the publisher's video streams share a send clock (abs-send-time) and a bandwidth
        self._remb = RemoteBitrateEstimator()
        self._rtcp_task: asyncio.Future[None] | None = None
        # SSRC -> (the middle 32 bits of the NTP time of its last sender report, when it came)
        self._sender_reports: dict[int, tuple[int, float]] = {}

    async def negotiate(self, offer: Offer) -> str:
        """Apply the browser's offer and return the SDP answer."""
        declared = {track.mid: track for track in offer.tracks}
        offered = set(MID_LINE.findall(offer.sdp))
        missing = sorted(set(declared) - offered)
        if not offered or missing:
            # before anything is applied: the connection stays as it was
            what = f"no media section for mid {', '.join(missing)}" if missing else "no media section"
            raise MediaError("invalid", f"unusable SDP offer: {what}")
        try:
            sdp = self.remote_candidates.filter_sdp(offer.sdp)
            with seam.without_receive_estimators():  # the publisher's one estimator answers for its video
                await self.pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        except Exception as exc:  # aiortc raises many kinds on a bad SDP: all are the browser's fault
            raise MediaError("invalid", f"unusable SDP offer: {exc}") from exc
        for transceiver in self.pc.getTransceivers():
            # retransmissions come back on the media SSRC: no RTX stream to unwrap
            seam.set_codecs(transceiver, [c for c in seam.codecs(transceiver) if not is_rtx(c)])
            mid = transceiver.mid
            if mid is None or mid in self.tracks or mid not in declared:
                continue
            self._add_track(transceiver, declared[mid])
        for transceiver in self.pc.getTransceivers():
            seam.report_streams_together(transceiver.receiver)
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        for dtls in _dtls_transports(self.pc):
            self._hook(dtls)
        if self._rtcp_task is None:
            self._rtcp_task = asyncio.ensure_future(self._run_rtcp())
        return announce_public_ip(self.pc.localDescription.sdp, self.public_ip)

    def _add_track(self, transceiver: RTCRtpTransceiver, declared: PublishedTrack) -> None:
        kind = transceiver.kind
        if SOURCE_KINDS[declared.source] != kind:
            raise MediaError("invalid", f"mid {declared.mid} is {kind}, not a {declared.source}")
        if any(t.source == declared.source and t.layer == declared.layer for t in self.tracks.values()):
            raise MediaError("conflict", f"{declared.source} {declared.layer} is already published")
        extensions = seam.header_extensions(transceiver)
        self._mid_ext_id = next((ext.id for ext in extensions if ext.uri == MID_URI), self._mid_ext_id)
        self._abs_send_time_id = next(
            (ext.id for ext in extensions if ext.uri == ABS_SEND_TIME_URI), self._abs_send_time_id
        )
        audio_level_id = next((ext.id for ext in extensions if ext.uri == AUDIO_LEVEL_URI), 0)
        receiver = transceiver.receiver
        track = Track(
            self.peer_id,
            declared.source,
            declared.layer if declared.source == "camera" else "normal",
            "audio" if kind == "audio" else "video",
            {c.payloadType: c.mimeType for c in seam.codecs(transceiver) if c.payloadType is not None},
            audio_level_id=audio_level_id,
        )
        track.send_pli = lambda: self._send_pli(receiver, track)
        self.tracks[declared.mid] = track
        self._by_receiver[receiver] = track

    def _send_pli(self, receiver: RTCRtpReceiver, track: Track) -> None:
        if track.ssrc:
            seam.send_pli(receiver, track.ssrc)

    def _hook(self, dtls: RTCDtlsTransport) -> None:
        if id(dtls) in self._hooked:
            return
        self._hooked.add(id(dtls))
        by_ssrc = self._by_ssrc

        def on_rtp(data: bytes, arrival_ms: int) -> None:
            entry = by_ssrc.get(SSRC.unpack_from(data, 8)[0])
            if entry is None:
                entry = self._route(dtls, data)
                if entry is None:
                    return
            track, feedback = entry
            feedback.add(data, arrival_ms)
            track.on_rtp(data, arrival_ms)

        async def handle_rtp_data(data: bytes, arrival_time_ms: int) -> None:
            if len(data) >= 12:
                on_rtp(data, arrival_time_ms)

        async def handle_rtcp_data(data: bytes) -> None:
            self._on_rtcp(data)

        # replaces aiortc's parse-route-depacketize-decode path for this transport
        seam.replace_rtp_handler(dtls, handle_rtp_data)
        # and its RTCP path (the socket handlers below take the browser's RTCP before it)
        seam.replace_rtcp_handler(dtls, handle_rtcp_data)
        # and skips aiortc's receive chain for SRTP on the sockets gathered for it
        if NATIVE_RECEIVE:
            native = self._native_receiver(dtls)
            readers = receive_set()
            for protocol in seam.ice_protocols(dtls):
                # what is not SRTP: SRTCP read at once, STUN and DTLS on to aioice
                rest = seam.srtcp_first(dtls, self._on_rtcp, protocol.datagram_received)
                raw = seam.raw_socket(getattr(protocol, "transport", None))
                if raw is not None and readers is not None and seam.stop_reading(asyncio.get_running_loop(), raw):
                    # read with every other publisher socket: one wake-up drains them all in C
                    readers.add(raw, native, rest)
                    self._read_by_set.append((raw.fileno(), raw))
                    self._receive_set = readers
                    continue
                fd = raw.fileno() if raw is not None else -1
                handler = partial(native.receive, fd, rest)
                seam.replace_datagram_handler(protocol, handler)
            return
        for protocol in seam.ice_protocols(dtls):
            # SRTP first (_receive_srtp passes the rest on), then SRTCP, then aioice
            seam.replace_datagram_handler(protocol, seam.srtcp_first(dtls, self._on_rtcp, protocol.datagram_received))
            seam.replace_datagram_handler(protocol, _receive_srtp(dtls, protocol, on_rtp))

    def _native_receiver(self, dtls: RTCDtlsTransport) -> Any:
        """Return a C receive path for a transport: Python hears of new streams, gaps and REMB groups."""
        by_ssrc = self._by_ssrc

        def route(data: bytes, arrival_ms: int) -> None:
            ssrc = SSRC.unpack_from(data, 8)[0]
            entry = by_ssrc.get(ssrc) or self._route(dtls, data)
            if entry is None:
                return
            track, feedback = entry
            video = track.kind == "video"
            level_id = track.audio_level_id
            native.add_stream(
                ssrc, track, feedback, 90000 if video else 48000, video, feedback.nacks is not None, level_id
            )
            self._native[feedback] = native

        def remb(arrival_ms: int, abs_send_time: int, payload_size: int, ssrc: int) -> None:
            # one call per group of packets sent within 5 ms, with their summed size (InterArrival's group)
            entry = by_ssrc.get(ssrc)
            if entry is None:
                return
            estimate = self._remb.add(
                abs_send_time=abs_send_time, arrival_time_ms=arrival_ms, payload_size=payload_size, ssrc=ssrc
            )
            if estimate is not None:
                seam.send_remb(entry[1].receiver, *estimate)

        native = _fastpath.Receiver(
            route=route,
            bind=lambda: seam.rx_target(dtls),
            remb=remb,
            ntp_offset_ms=NTP_UNIX_OFFSET_MS,
            abs_send_time_id=self._abs_send_time_id,
        )
        return native

    def _route(self, dtls: RTCDtlsTransport, data: bytes) -> tuple[Track, _Feedback] | None:
        view = self._view
        view.ssrc = SSRC.unpack_from(data, 8)[0]
        view.payload_type = data[1] & 0x7F
        # without a=ssrc in the offer, the mid header extension names the transceiver
        mid = find_extension(data, self._mid_ext_id)
        receiver = seam.route_rtp(dtls, view, mid.decode("ascii", "replace") if mid else None)
        if receiver is None:
            return None
        track = self._by_receiver.get(receiver)
        if track is None:
            return None
        track.ssrc = view.ssrc
        entry = (
            track,
            _Feedback(
                receiver,
                view.ssrc,
                90000 if track.kind == "video" else 48000,
                self._abs_send_time_id,
                self._remb if track.kind == "video" else None,
            ),
        )
        self._by_ssrc[view.ssrc] = entry
        self._feedback[track] = entry[1]
        return entry

    def _on_rtcp(self, data: bytes) -> None:
        """Note the time of each sender report of the publisher's streams (an RR's LSR and DLSR).

        The rest of what a publishing browser sends in RTCP (its SDES, an RR about nothing) is of
        no use to the forwarder. A compound packet is walked by its headers; only the SSRCs of
        streams it publishes are kept.
        """
        now = time()
        offset, end = 0, len(data)
        while offset + 4 <= end:
            # RFC 3550 6.4.1: V P RC | PT | length in 32-bit words minus one | SSRC | NTP (64 bits) ...
            packet_type = data[offset + 1]
            size = (RTCP_LENGTH.unpack_from(data, offset + 2)[0] + 1) * 4
            if packet_type == RTCP_SR and size >= 28 and offset + 20 <= end:
                ssrc, ntp_middle = SR_TIMES.unpack_from(data, offset + 4)
                if ssrc in self._by_ssrc:
                    self._sender_reports[ssrc] = (ntp_middle, now)
            offset += size

    async def _run_rtcp(self) -> None:
        """Send one compound receiver report for all the publisher's streams, about once a second.

        In place of aiortc's loop per receiver (`seam.report_streams_together`): a publisher of a
        microphone and two camera layers woke three tasks and sent three RRs a second, each
        protected and sent on its own. The counts are those the C receive path kept, copied in by
        the node's tick (`measure`); LSR and DLSR come from the publisher's sender reports
        (`_on_rtcp`), so that the browser can work out its round-trip time.
        """
        while self.pc.connectionState not in ("closed", "failed"):
            # RFC 3550: the interval varies randomly over [0.5, 1.5] times the nominal one
            await asyncio.sleep(0.5 + random.random())
            try:
                await self._send_receiver_reports()
            except Exception:  # a report that could not be made: the next one may be
                logger.exception("receiver report of %s failed", self.peer_id)

    async def _send_receiver_reports(self) -> None:
        by_transport: dict[RTCDtlsTransport, tuple[int, list[RtcpReceiverInfo]]] = {}
        now = time()
        for feedback in self._feedback.values():
            receiver, stats = feedback.receiver, feedback.stats
            sender = seam.rtcp_ssrc(receiver)
            if sender is None or stats.max_seq is None or stats.base_seq is None:
                continue  # not negotiated yet, or nothing received
            lsr = dlsr = 0
            last = self._sender_reports.get(feedback.ssrc)
            if last is not None:
                lsr = last[0]
                delay = now - last[1]
                dlsr = int(delay * 65536) if 0 < delay < 65536 else 0
            report = RtcpReceiverInfo(
                ssrc=feedback.ssrc,
                fraction_lost=min(max(stats.fraction_lost, 0), 255),
                packets_lost=stats.packets_lost,
                # the extended highest sequence number (RFC 3550 6.4.1): cycles count by 65536
                highest_sequence=(stats.cycles + stats.max_seq) & 0xFFFFFFFF,
                jitter=stats.jitter,
                lsr=lsr,
                dlsr=dlsr,
            )
            by_transport.setdefault(receiver.transport, (sender, []))[1].append(report)
        for dtls, (sender, reports) in by_transport.items():
            try:
                # an RR holds 31 report blocks; a publisher has at most 8 tracks
                await seam.send_rtcp(dtls, bytes(RtcpRrPacket(ssrc=sender, reports=reports[:31])))
            except ConnectionError:
                pass

    def measure(self, now: float) -> None:
        """Sample the incoming bitrate of every track (the node's tick calls this)."""
        for feedback in self._feedback.values():
            native = self._native.get(feedback)
            if native is not None:
                feedback.load(native)
            feedback.bitrate.sample(feedback.bytes, now)

    def bitrates(self, into: dict[Track, float]) -> None:
        """Put the incoming bitrate of each of its tracks into a mapping (the tick's, once per room)."""
        feedbacks = self._feedback
        for track in self.tracks.values():
            feedback = feedbacks.get(track)
            into[track] = feedback.bitrate.bps if feedback is not None else 0.0

    async def add_candidate(self, candidate: str, mid: str | None, index: int | None) -> None:
        """Add a browser's trickled ICE candidate, if the node may send it checks."""
        await add_candidate(self.pc, self.remote_candidates, candidate, mid, index)

    async def close(self) -> None:
        """Stop forwarding this publisher's tracks and close the connection."""
        if self._rtcp_task is not None:
            self._rtcp_task.cancel()
        for track in self.tracks.values():
            track.close()
        self.tracks.clear()
        if self._receive_set is not None:
            for fd, raw in self._read_by_set:
                self._receive_set.remove(fd, raw)
            self._read_by_set.clear()
        await self.pc.close()
