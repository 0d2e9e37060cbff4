"""The hooks into aiortc's and aioice's objects: what the forwarder reads, replaces or frees.

Each private name used here is listed, with why, in media_server/seam/names.py.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from time import monotonic
from types import ModuleType
from typing import Any

import aioice.ice
from aioice.ice import CandidatePair, StunProtocol
from aiortc import (
    RTCCertificate,
    RTCDtlsFingerprint,
    RTCDtlsTransport,
    RTCPeerConnection,
    RTCRtpCodecParameters,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
    rtcpeerconnection,
    rtcrtpreceiver,
    sdp,
)
from aiortc.clock import current_ms
from aiortc.codecs import get_capabilities, is_rtx
from aiortc.rate import RemoteBitrateEstimator
from aiortc.rtcdtlstransport import SRTPProtectionProfile
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtcrtpreceiver import NackGenerator, StreamStatistics
from aiortc.rtp import (
    RTCP_PSFB_APP,
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RTP_HISTORY_SIZE,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpReceiverInfo,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtcpSrPacket,
    pack_remb_fci,
    unpack_remb_fci,
)
from OpenSSL import SSL

logger = logging.getLogger(__name__)

__all__ = [
    "RTCP_PSFB_APP",
    "RTCP_PSFB_FIR",
    "RTCP_PSFB_PLI",
    "RTCP_RTPFB_NACK",
    "CandidatePair",
    "NackGenerator",
    "RemoteBitrateEstimator",
    "RtcpPacket",
    "RtcpPsfbPacket",
    "RtcpReceiverInfo",
    "RtcpRrPacket",
    "RtcpRtpfbPacket",
    "RtcpSrPacket",
    "SharedCertificate",
    "StreamStatistics",
    "StunProtocol",
    "add_to_nack_generator",
    "cache_host_addresses",
    "codecs",
    "copy_codecs_cheaply",
    "current_ms",
    "daemon_decoder_threads",
    "drop_descriptions",
    "get_capabilities",
    "header_extensions",
    "ice_protocols",
    "idle_receivers",
    "idle_senders",
    "is_rtx",
    "load_statistics",
    "nack_generator",
    "build_receivers_without_estimators",
    "nominated_pairs",
    "raw_socket",
    "replace_datagram_handler",
    "replace_rtcp_handler",
    "replace_rtp_handler",
    "report_streams_together",
    "route_rtp",
    "rtcp_ssrc",
    "send_nack",
    "send_pli",
    "send_remb",
    "send_rtcp",
    "sender_cname",
    "sender_ssrc",
    "set_codecs",
    "share_certificate",
    "share_equal_lists",
    "unpack_remb_fci",
    "without_receive_estimators",
]


# --- a publisher's receivers: statistics, NACK and REMB from aiortc's own objects, fed by the hook


def report_streams_together(receiver: RTCRtpReceiver) -> None:
    """Keep a publisher's receiver from sending receiver reports of its own: the publisher sends one.

    aiortc starts `_run_rtcp` for each receiver once the connection is up: a task that wakes about
    once a second and sends an RR about its one stream. The publisher sends one compound RR for
    all its streams instead (`Publisher._run_rtcp`). The stand-in marks the loop started and ended,
    which is what `receiver.stop()` waits for, and returns. Call it before the connection is up.
    """

    async def run_rtcp() -> None:
        receiver._RTCRtpReceiver__rtcp_started.set()  # type: ignore[attr-defined]
        receiver._RTCRtpReceiver__rtcp_exited.set()  # type: ignore[attr-defined]

    receiver._run_rtcp = run_rtcp  # type: ignore[method-assign]


def rtcp_ssrc(receiver: RTCRtpReceiver) -> int | None:
    """Return the SSRC a receiver's RTCP is sent from (None until the connection is negotiated)."""
    ssrc: int | None = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
    return ssrc


def load_statistics(
    stats: StreamStatistics, base_seq: int | None, max_seq: int | None, cycles: int, received: int, jitter_q4: int
) -> None:
    """Give aiortc's statistics of a stream the counts the C receive path kept (its receiver reports read them)."""
    stats.base_seq = base_seq
    stats.max_seq = max_seq
    stats.cycles = cycles
    stats.packets_received = received
    stats._jitter_q4 = jitter_q4


def nack_generator(receiver: RTCRtpReceiver) -> NackGenerator | None:
    """Return the receiver's NACK generator (None for a receiver that was idled)."""
    generator: NackGenerator | None = receiver._RTCRtpReceiver__nack_generator  # type: ignore[attr-defined]
    return generator


def add_to_nack_generator(nacks: NackGenerator, packet: Any) -> bool:
    """Do what NackGenerator.add does, without its scan of the missing set for in-order packets."""
    seq: int = packet.sequence_number
    last = nacks.max_seq
    if last is None or seq != (last + 1) & 0xFFFF:
        return nacks.add(packet)
    nacks.max_seq = seq
    if nacks.missing:
        # the window moved by one: only the number now RTP_HISTORY_SIZE + 1 behind leaves it
        nacks.missing.discard((seq - RTP_HISTORY_SIZE - 1) & 0xFFFF)
    return False


def send_nack(receiver: RTCRtpReceiver, ssrc: int, lost: list[int]) -> None:
    """Ask the publisher for lost packets, from the receiver's RTCP SSRC."""
    asyncio.ensure_future(receiver._send_rtcp_nack(ssrc, lost))


def send_pli(receiver: RTCRtpReceiver, ssrc: int) -> None:
    """Ask the publisher for a keyframe of one stream."""
    asyncio.ensure_future(receiver._send_rtcp_pli(ssrc))


def send_remb(receiver: RTCRtpReceiver, bitrate: int, ssrcs: list[int]) -> None:
    """Tell the publisher the bandwidth estimate of its streams (once its RTCP SSRC is known)."""
    rtcp_ssrc: int | None = receiver._RTCRtpReceiver__rtcp_ssrc  # type: ignore[attr-defined]
    if rtcp_ssrc is not None:
        packet = RtcpPsfbPacket(fmt=RTCP_PSFB_APP, ssrc=rtcp_ssrc, media_ssrc=0, fci=pack_remb_fci(bitrate, ssrcs))
        asyncio.ensure_future(receiver._send_rtcp(packet))


# --- negotiated parameters of a transceiver


def codecs(transceiver: RTCRtpTransceiver) -> list[Any]:
    """Return the codecs negotiated for a transceiver (RTCRtpCodecParameters)."""
    negotiated: list[Any] = transceiver._codecs
    return negotiated


def set_codecs(transceiver: RTCRtpTransceiver, negotiated: list[Any]) -> None:
    """Replace the codecs negotiated for a transceiver (before its answer is made)."""
    transceiver._codecs = negotiated


def header_extensions(transceiver: RTCRtpTransceiver) -> list[Any]:
    """Return the header extensions negotiated for a transceiver (RTCRtpHeaderExtensionParameters)."""
    negotiated: list[Any] = transceiver._headerExtensions
    return negotiated


def sender_ssrc(sender: RTCRtpSender) -> int:
    """Return the SSRC aiortc chose for a sender (and wrote in the offer)."""
    ssrc: int = sender._ssrc
    return ssrc


def sender_cname(sender: RTCRtpSender) -> str | None:
    """Return the CNAME a sender was given when negotiated (None before)."""
    cname: str | None = sender._RTCRtpSender__cname  # type: ignore[attr-defined]
    return cname


# --- what a DTLS transport does with decrypted packets, and its ICE sockets


def replace_rtp_handler(dtls: RTCDtlsTransport, handler: Callable[[bytes, int], Coroutine[Any, Any, None]]) -> None:
    """Give a transport's decrypted RTP (data, arrival ms) to handler instead of aiortc's receivers."""
    dtls._handle_rtp_data = handler  # type: ignore[method-assign,assignment]


def replace_rtcp_handler(
    dtls: RTCDtlsTransport, handler: Callable[[bytes], Coroutine[Any, Any, None]]
) -> Callable[[bytes], Coroutine[Any, Any, None]]:
    """Give a transport's decrypted RTCP to handler instead of aiortc's; return the one replaced."""
    replaced: Callable[[bytes], Coroutine[Any, Any, None]] = dtls._handle_rtcp_data
    dtls._handle_rtcp_data = handler  # type: ignore[method-assign,assignment]
    return replaced


def route_rtp(dtls: RTCDtlsTransport, packet: Any, mid: str | None) -> RTCRtpReceiver | None:
    """Return the receiver aiortc routes a packet to: by SSRC or payload type, else by mid."""
    router = dtls._rtp_router
    receiver: object = router.route_rtp(packet)
    if receiver is None and mid:
        receiver = router.mid_table.get(mid)
    return receiver if isinstance(receiver, RTCRtpReceiver) else None


async def send_rtcp(dtls: RTCDtlsTransport, packet: bytes) -> None:
    """Protect and send an RTCP packet made by the forwarder (sender reports)."""
    await dtls._send_rtp(packet)


def ice_protocols(dtls: RTCDtlsTransport) -> list[StunProtocol]:
    """Return the protocols of the UDP sockets ICE gathered for a transport."""
    protocols: list[StunProtocol] = dtls.transport._connection._protocols
    return protocols


def nominated_pairs(dtls: RTCDtlsTransport) -> dict[int, CandidatePair]:
    """Return ICE's nominated candidate pairs by component (the live dict: ICE updates it)."""
    nominated: dict[int, CandidatePair] = dtls.transport._connection._nominated
    return nominated


def replace_datagram_handler(protocol: StunProtocol, handler: Callable[[bytes, tuple[Any, ...]], None]) -> None:
    """Have a socket's datagrams go to handler (which passes what it does not take on)."""
    protocol.datagram_received = handler  # type: ignore[method-assign,assignment]


def raw_socket(transport: Any) -> socket.socket | None:
    """Return the socket under an asyncio datagram transport (None under uvloop's or a test's)."""
    sock = transport.get_extra_info("socket") if transport is not None else None
    raw = getattr(sock, "_sock", None)
    return raw if isinstance(raw, socket.socket) else None


def stop_reading(loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bool:
    """Take a transport's socket off the loop's readers (the caller reads it); False under another loop.

    The transport still sends on the socket and closes it; it only no longer reads.
    """
    if not isinstance(loop, asyncio.selector_events.BaseSelectorEventLoop):
        return False
    loop._remove_reader(sock.fileno())  # type: ignore[attr-defined]
    return True


# --- what a connection keeps that the forwarder never uses (docs/media.md, "Memory per subscriber")


def idle_senders(pc: RTCPeerConnection) -> None:
    """Keep aiortc's senders of a subscribe connection from starting; free what only that uses.

    The forwarder sends each slot's RTP (Output) and their sender reports (Subscriber._run_rtcp)
    itself, and the subscriber's RTCP never reaches aiortc (Subscriber._hook). aiortc's send()
    would start two tasks per sender that wait for ever (an RTP loop on a track that never
    yields a frame, an RTCP loop) with four Events: about 4.5 KB for each of the twelve slots.
    The stand-in keeps the one thing read from it, the CNAME of the SDES chunks; stop() does
    nothing for a sender that was never started.
    """
    for transceiver in pc.getTransceivers():
        sender = transceiver.sender

        async def send(parameters: RTCRtpSendParameters, sender: RTCRtpSender = sender) -> None:
            sender._RTCRtpSender__cname = parameters.rtcp.cname  # type: ignore[attr-defined]

        sender.send = send  # type: ignore[method-assign]
        for name in ("rtp_started", "rtp_exited", "rtcp_started", "rtcp_exited"):
            setattr(sender, f"_RTCRtpSender__{name}", None)


def idle_receivers(pc: RTCPeerConnection) -> None:
    """Free what aiortc's receivers of sendonly transceivers keep for media that never comes.

    Each receiver makes a jitter buffer (512 entries for video), a NACK generator, a decoder
    queue (a queue.Queue: three Conditions), the Event its decoder thread flags errors with and
    two Events for its RTCP loop: about 10 KB, for each of a subscriber's twelve slots. Only receive() uses them, which aiortc calls for
    transceivers that receive, and stop() only after it; no RTP is routed to these receivers.
    """
    for transceiver in pc.getTransceivers():
        if transceiver.direction != "sendonly":
            continue
        receiver = transceiver.receiver
        for name in (
            "jitter_buffer",
            "nack_generator",
            "decoder_queue",
            "decoder_error",
            "rtcp_started",
            "rtcp_exited",
        ):
            setattr(receiver, f"_RTCRtpReceiver__{name}", None)


def drop_descriptions(pc: RTCPeerConnection) -> None:
    """Free aiortc's parsed copies of a negotiated subscribe connection's offer and answer.

    aiortc reads them only to negotiate again (createOffer, createAnswer, setLocalDescription,
    setRemoteDescription) and to note trickled candidates in them; a subscribe connection is never
    negotiated again (a join or a restart makes a new one). About 110 KB of Python objects for
    twelve media sections (codecs, RTCP feedback, candidates, fingerprints).
    """
    for name in ("current", "pending"):
        for side in ("Local", "Remote"):
            setattr(pc, f"_RTCPeerConnection__{name}{side}Description", None)
    # aiortc notes a late trickled candidate in the remote description after handing it to ICE,
    # and logs a warning for each when there is none: an empty one takes them silently
    empty = sdp.SessionDescription()
    empty.type = "answer"
    pc._RTCPeerConnection__currentRemoteDescription = empty  # type: ignore[attr-defined]


def share_equal_lists(transceivers: list[RTCRtpTransceiver]) -> None:
    """Make the transceivers whose negotiated codecs and header extensions are equal share them.

    aiortc deep-copies the codecs (with their RTCP feedback) for every transceiver: the nine
    video slots of a subscriber hold nine equal lists. Nothing changes them after negotiation.
    """
    seen_codecs: list[list[Any]] = []
    seen_extensions: list[list[Any]] = []
    for transceiver in transceivers:
        transceiver._codecs = _first_equal(seen_codecs, transceiver._codecs)
        transceiver._headerExtensions = _first_equal(seen_extensions, transceiver._headerExtensions)


def _first_equal(seen: list[list[Any]], value: list[Any]) -> list[Any]:
    for other in seen:
        if other == value:
            return other
    seen.append(value)
    return value


_WITHOUT_ESTIMATORS: ContextVar[bool] = ContextVar("without_receive_estimators", default=False)


def _receiver_estimator() -> RemoteBitrateEstimator | None:
    return None if _WITHOUT_ESTIMATORS.get() else RemoteBitrateEstimator()


_receiver_estimator.original = RemoteBitrateEstimator  # type: ignore[attr-defined]  # what the canary checks


def build_receivers_without_estimators() -> None:
    """Have aiortc's receivers ask _receiver_estimator for their REMB estimator (once, at import).

    Outside `without_receive_estimators` they get aiortc's own, as before (the tests' and the
    benchmark's aiortc clients share the process with an embedded forwarder).
    """
    current = getattr(rtcrtpreceiver, "RemoteBitrateEstimator", None)
    if current is _receiver_estimator:
        return
    if current is not RemoteBitrateEstimator:
        # another aiortc (MEDIA_AIORTC_VERSION_CHECK=0): receivers keep their estimators, as before
        logger.warning("aiortc's receivers no longer build aiortc.rate.RemoteBitrateEstimator: not replaced")
        return
    rtcrtpreceiver.RemoteBitrateEstimator = _receiver_estimator  # type: ignore[attr-defined,assignment]


@contextmanager
def without_receive_estimators() -> Iterator[None]:
    """Within (this task only), aiortc's video receivers are built with no REMB estimator.

    The hooks never feed one: a subscriber connection's nine receivers receive nothing, and a
    publisher's video is estimated by the publisher's one shared estimator. Each would hold 1000
    one-millisecond buckets (about 60 KB of Python objects) and cost 0.6 ms of CPU to build,
    about a quarter of a subscribe connection's setup. aiortc skips the estimate when a
    receiver has none.
    """
    token = _WITHOUT_ESTIMATORS.set(True)
    try:
        yield
    finally:
        _WITHOUT_ESTIMATORS.reset(token)


class SharedCertificate(RTCCertificate):
    """A DTLS certificate with one SSL context for all the connections that use it.

    aiortc makes a certificate (an EC key, 16 KB of C memory) for every RTCPeerConnection and an
    SSL context (23 KB) for every DTLS transport, and OpenSSL keeps each connection's record
    buffers (about 50 KB) after the handshake. Like Janus and mediasoup, the node uses one
    certificate and one context for all its connections: each connection still makes its own
    keys (ECDHE) and checks the browser's fingerprint. The context releases idle record buffers
    and resumes no session (no cache, no tickets), as a context per connection never did.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.created = monotonic()
        self._contexts: dict[tuple[int, ...], SSL.Context] = {}
        self._fingerprints: list[RTCDtlsFingerprint] | None = None

    def getFingerprints(self) -> list[RTCDtlsFingerprint]:
        """Return the certificate's fingerprints, worked out once (aiortc hashes it on every call).

        A connection asks four times and more while it is negotiated (each media section of
        its SDP names them): three SHA digests of the certificate each time.
        """
        if self._fingerprints is None:
            self._fingerprints = super().getFingerprints()
        return list(self._fingerprints)

    def _create_ssl_context(self, srtp_profiles: list[SRTPProtectionProfile]) -> SSL.Context:
        key = tuple(p.libsrtp_profile for p in srtp_profiles)
        context = self._contexts.get(key)
        if context is None:
            context = super()._create_ssl_context(srtp_profiles)
            context.set_mode(SSL.MODE_RELEASE_BUFFERS)
            context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
            context.set_options(SSL.OP_NO_TICKET)
            self._contexts[key] = context
        return context


def share_certificate(pc: RTCPeerConnection, certificate: SharedCertificate) -> None:
    """Give a new connection this certificate instead of the one aiortc made for it.

    Before any transceiver, which is when aiortc makes the DTLS transport that takes it.
    """
    pc._RTCPeerConnection__certificates = [certificate]  # type: ignore[attr-defined]


HOST_ADDRESSES_TTL_S = 5.0
"""How long the interfaces' addresses read for one connection's ICE gathering serve the next ones."""


def cache_host_addresses() -> None:
    """Have ICE gathering read the interfaces' addresses at most once per HOST_ADDRESSES_TTL_S.

    aioice enumerates every interface (ifaddr: a netlink dump, then each address parsed) for each
    connection it gathers for: a join storm of a hundred students read them two hundred times in
    a few seconds. A server's addresses do not change between two joins; a change is seen within
    seconds. Once, at import, for the whole process.
    """
    original = getattr(aioice.ice, "get_host_addresses", None)
    if original is None:
        logger.warning("aioice no longer gathers with get_host_addresses: not cached")
        return
    if getattr(original, "cached", False):
        return
    read: dict[tuple[bool, bool], tuple[float, list[str]]] = {}

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        key = (use_ipv4, use_ipv6)
        now = monotonic()
        found = read.get(key)
        if found is None or now - found[0] >= HOST_ADDRESSES_TTL_S:
            found = read[key] = (now, original(use_ipv4, use_ipv6))
        return list(found[1])

    get_host_addresses.cached = True  # type: ignore[attr-defined]
    get_host_addresses.original = original  # type: ignore[attr-defined]  # what the canary checks
    aioice.ice.get_host_addresses = get_host_addresses


def _copy_codec(value: Any, memo: dict[int, Any] | None = None) -> Any:
    if type(value) is RTCRtpCodecParameters:
        # its feedback entries and parameter values are never changed in place: the lists and
        # the dict are what a copy must not share
        return dataclasses.replace(value, rtcpFeedback=list(value.rtcpFeedback), parameters=dict(value.parameters))
    return copy.deepcopy(value, memo)


def copy_codecs_cheaply() -> None:
    """Have aiortc's codec negotiation copy each codec by its fields, not with copy.deepcopy.

    find_common_codecs deep-copies every codec the two sides share, for every media section:
    a fifth of a subscribe connection's setup (twelve sections) went to deepcopy's generic walk
    of those dataclasses. Once, at import; only that module's `copy` is replaced.
    """
    current = getattr(rtcpeerconnection, "copy", None)
    if getattr(current, "cheap_codecs", False):
        return
    if current is not copy:
        logger.warning("aiortc's rtcpeerconnection no longer copies codecs with the copy module: not replaced")
        return
    module = ModuleType("copy")  # what aiortc's rtcpeerconnection sees as `copy`
    module.__dict__.update(copy.__dict__)
    module.deepcopy = _copy_codec  # type: ignore[attr-defined]
    module.cheap_codecs = True  # type: ignore[attr-defined]
    module.original = copy  # type: ignore[attr-defined]  # what the canary checks
    rtcpeerconnection.copy = module  # type: ignore[attr-defined]


class _DaemonThread(threading.Thread):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "daemon": True})


def daemon_decoder_threads() -> None:
    """Make the decoder thread each started receiver runs a daemon, so that a process can exit.

    aiortc starts one per receiving transceiver, waiting on a queue for frames to decode; the
    forwarder takes the packets before it and never decodes, so they wait for ever. Python joins
    every thread that is not a daemon before it exits: a web process stopped (SIGTERM) while
    browsers still had media on its embedded forwarder (or a peer parked for a resume) never
    exited, and a media node's exit depended on every connection having been closed first.
    """
    module = ModuleType("threading")  # what aiortc's receiver module sees as `threading`
    module.__dict__.update(threading.__dict__)
    module.Thread = _DaemonThread  # type: ignore[attr-defined]
    rtcrtpreceiver.threading = module  # type: ignore[attr-defined]
