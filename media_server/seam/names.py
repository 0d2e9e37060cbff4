"""Every private name of aiortc, aioice and pylibsrtp that media_server uses, and why.

tests/media/test_seam.py has a canary per entry: it fails, naming the entry, when an upgrade
moves, renames or reshapes it. Internal modules' public names (aiortc.rtp, aiortc.rate, aioice.ice)
are listed too: nothing promises them either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["attribute", "method", "class", "function", "constant", "module"]


@dataclass(frozen=True)
class Hook:
    """One name the seam reaches: where it lives, what it is, why the forwarder needs it."""

    owner: str
    """module, or module:Class for a class's attribute or method"""
    name: str
    kind: Kind
    reason: str
    parameters: tuple[str, ...] | None = None
    """a method's or function's parameter names, when the seam calls or replaces it"""

    @property
    def id(self) -> str:
        """Return owner.name, as the canary tests are named."""
        return f"{self.owner}.{self.name}"


RECEIVER = "aiortc.rtcrtpreceiver:RTCRtpReceiver"
SENDER = "aiortc.rtcrtpsender:RTCRtpSender"
TRANSCEIVER = "aiortc.rtcrtptransceiver:RTCRtpTransceiver"
PC = "aiortc.rtcpeerconnection:RTCPeerConnection"
DTLS = "aiortc.rtcdtlstransport:RTCDtlsTransport"
ICE = "aiortc.rtcicetransport:RTCIceTransport"
CONNECTION = "aioice.ice:Connection"
SESSION = "pylibsrtp:Session"
STATS = "aiortc.rtcrtpreceiver:StreamStatistics"

HOOKS: tuple[Hook, ...] = (
    # a process exits with media open: the receivers' idle decoder threads made daemons
    Hook("aiortc.rtcrtpreceiver", "threading", "module", "decoder threads made daemons (rtc.daemon_decoder_threads)"),
    # the setup of a connection (a join storm): what aiortc builds or reads again for each one
    Hook(
        "aiortc.rtcrtpreceiver",
        "RemoteBitrateEstimator",
        "function",
        "what a receiver builds its REMB estimator with: none for the forwarder's (without_receive_estimators)",
        (),
    ),
    Hook(
        "aiortc.rtcpeerconnection",
        "copy",
        "module",
        "codec negotiation's copies, made by fields (rtc.copy_codecs_cheaply)",
    ),
    Hook(
        "aioice.ice",
        "get_host_addresses",
        "function",
        "ICE gathering's read of the interfaces, cached a few seconds (cache_host_addresses)",
        ("use_ipv4", "use_ipv6"),
    ),
    # a publisher's receivers: RTCP feedback from aiortc's objects, fed by the hook
    Hook(
        RECEIVER,
        "_run_rtcp",
        "method",
        "replaced on a publisher's receivers: the publisher sends one compound RR for all its streams",
        ("self",),
    ),
    Hook(RECEIVER, "_RTCRtpReceiver__nack_generator", "attribute", "NACKs to the publisher from aiortc's generator"),
    Hook(RECEIVER, "_RTCRtpReceiver__rtcp_ssrc", "attribute", "the SSRC the publisher's REMB and RRs are sent from"),
    Hook(RECEIVER, "_send_rtcp", "method", "sends the publisher's REMB", ("self", "packet")),
    Hook(RECEIVER, "_send_rtcp_nack", "method", "asks the publisher for lost packets", ("self", "media_ssrc", "lost")),
    Hook(RECEIVER, "_send_rtcp_pli", "method", "asks the publisher for a keyframe", ("self", "media_ssrc")),
    # receivers and senders of the subscribe connection, idled (memory per subscriber)
    Hook(RECEIVER, "_RTCRtpReceiver__jitter_buffer", "attribute", "freed: sendonly slots receive nothing"),
    Hook(RECEIVER, "_RTCRtpReceiver__decoder_queue", "attribute", "freed: no decoder on a sendonly slot"),
    Hook(RECEIVER, "_RTCRtpReceiver__decoder_error", "attribute", "freed: no decoder thread on a sendonly slot"),
    Hook(
        RECEIVER,
        "_RTCRtpReceiver__rtcp_started",
        "attribute",
        "freed: a slot's receiver never starts its RTCP loop; set by a publisher's stand-in loop",
    ),
    Hook(
        RECEIVER,
        "_RTCRtpReceiver__rtcp_exited",
        "attribute",
        "freed: a slot's receiver never starts its RTCP loop; set by a publisher's stand-in loop",
    ),
    Hook(SENDER, "_RTCRtpSender__cname", "attribute", "the CNAME of the forwarder's own SDES chunks"),
    Hook(SENDER, "_RTCRtpSender__rtp_started", "attribute", "freed: the forwarder sends, aiortc's RTP loop never runs"),
    Hook(SENDER, "_RTCRtpSender__rtp_exited", "attribute", "freed: the forwarder sends, aiortc's RTP loop never runs"),
    Hook(SENDER, "_RTCRtpSender__rtcp_started", "attribute", "freed: the forwarder sends the sender reports"),
    Hook(SENDER, "_RTCRtpSender__rtcp_exited", "attribute", "freed: the forwarder sends the sender reports"),
    Hook(SENDER, "_ssrc", "attribute", "the SSRC aiortc put in the offer: a slot sends on it"),
    Hook(SENDER, "send", "method", "replaced: keeps the CNAME, starts no task", ("self", "parameters")),
    Hook(TRANSCEIVER, "_codecs", "attribute", "negotiated payload types; RTX stripped; equal lists shared"),
    Hook(TRANSCEIVER, "_headerExtensions", "attribute", "negotiated ids (mid, abs-send-time, audio level)"),
    Hook(PC, "_RTCPeerConnection__currentLocalDescription", "attribute", "freed once negotiated"),
    Hook(PC, "_RTCPeerConnection__currentRemoteDescription", "attribute", "freed once negotiated (an empty one)"),
    Hook(PC, "_RTCPeerConnection__pendingLocalDescription", "attribute", "freed once negotiated"),
    Hook(PC, "_RTCPeerConnection__pendingRemoteDescription", "attribute", "freed once negotiated"),
    Hook(PC, "_RTCPeerConnection__certificates", "attribute", "one shared DTLS certificate for all connections"),
    Hook(
        "aiortc.rtcdtlstransport:RTCCertificate",
        "_create_ssl_context",
        "method",
        "overridden: one SSL context shared by all connections",
        ("self", "srtp_profiles"),
    ),
    # the packet path: decrypted RTP and RTCP of a DTLS transport, its ICE sockets, its SRTP
    Hook(
        DTLS, "_handle_rtp_data", "method", "replaced: RTP goes to the forwarder", ("self", "data", "arrival_time_ms")
    ),
    Hook(
        DTLS,
        "_handle_rtcp_data",
        "method",
        "replaced: RTCP goes to the subscriber's slots, or the publisher's SR times",
        ("self", "data"),
    ),
    Hook(DTLS, "_send_rtp", "method", "protects and sends the forwarder's sender reports", ("self", "data")),
    Hook(DTLS, "_rtp_router", "attribute", "finds the receiver of a new SSRC, by SSRC or by mid"),
    Hook(
        DTLS, "_rx_srtp", "attribute", "unprotects SRTP and SRTCP in the socket callback, without aiortc's coroutines"
    ),
    Hook(DTLS, "_tx_srtp", "attribute", "protects each forwarded packet in place, from Python or C"),
    Hook(DTLS, "_state", "attribute", "a session is used only while the transport is connected"),
    Hook("aiortc.rtcdtlstransport", "State", "class", "the states _state takes (CONNECTED)"),
    Hook(ICE, "_connection", "attribute", "the aioice connection: sockets and nominated pair"),
    Hook(CONNECTION, "_protocols", "attribute", "the sockets whose callback the forwarder takes over"),
    Hook(CONNECTION, "_nominated", "attribute", "the pair (socket, address) packets are sent to"),
    Hook(SESSION, "_srtp", "attribute", "the srtp_t that libsrtp protects with (from Python and from C)"),
    Hook(SESSION, "_cdata", "attribute", "the session's buffer: protect in place, no bytes per packet"),
    Hook(SESSION, "_buffer", "attribute", "a Python view of that buffer, sent without a copy"),
    Hook(
        "pylibsrtp",
        "_binding",
        "module",
        "libsrtp's functions (srtp_protect/unprotect, srtp_unprotect_rtcp) and the library C binds to",
    ),
    Hook("asyncio.trsock:TransportSocket", "_sock", "attribute", "the socket itself: sendto and reads without asyncio"),
    Hook(
        "asyncio.selector_events:BaseSelectorEventLoop",
        "_remove_reader",
        "method",
        "a publisher socket is read by the C receive set, not by its transport",
        ("self", "fd"),
    ),
    # internal modules' names the hooks work with
    Hook("aiortc.rtcrtpreceiver", "NackGenerator", "class", "fed by the hook (max_seq, missing, add)"),
    Hook(
        "aiortc.rtcrtpreceiver:NackGenerator",
        "add",
        "method",
        "what a NACK generator does with a packet",
        ("self", "packet"),
    ),
    Hook("aiortc.rtcrtpreceiver", "StreamStatistics", "class", "receive statistics of a stream, fed by the hook"),
    Hook(STATS, "_jitter_q4", "attribute", "the C receive path's jitter, copied in at the tick for receiver reports"),
    Hook("aiortc.rate", "RemoteBitrateEstimator", "class", "one REMB estimator per publisher, fed by the hook"),
    Hook(
        "aiortc.rate:RemoteBitrateEstimator",
        "add",
        "method",
        "fed with each video packet's abs-send-time",
        ("self", "arrival_time_ms", "abs_send_time", "payload_size", "ssrc"),
    ),
    Hook("aiortc.rtcdtlstransport:RtpRouter", "route_rtp", "method", "routes a new SSRC", ("self", "packet")),
    Hook("aiortc.rtcdtlstransport", "SRTPProtectionProfile", "class", "the key of the shared SSL contexts"),
    Hook("aiortc.rtp", "RTP_HISTORY_SIZE", "constant", "the NACK window the in-order fast path keeps"),
    Hook("aiortc.rtp", "RtcpPacket", "class", "parses a subscriber's RTCP"),
    Hook("aiortc.rtp", "RtcpPsfbPacket", "class", "PLI, FIR and REMB from subscribers; REMB to publishers"),
    Hook("aiortc.rtp", "RtcpRtpfbPacket", "class", "NACKs from subscribers"),
    Hook("aiortc.rtp", "RtcpRrPacket", "class", "receiver reports from subscribers (weak links), to publishers"),
    Hook("aiortc.rtp", "RtcpReceiverInfo", "class", "a report block of the publisher's compound RR"),
    Hook("aiortc.rtp", "RtcpSrPacket", "class", "sender reports' report blocks from subscribers"),
    Hook("aiortc.rtp", "RTCP_PSFB_APP", "constant", "REMB's feedback type"),
    Hook("aiortc.rtp", "RTCP_PSFB_FIR", "constant", "FIR's feedback type"),
    Hook("aiortc.rtp", "RTCP_PSFB_PLI", "constant", "PLI's feedback type"),
    Hook("aiortc.rtp", "RTCP_RTPFB_NACK", "constant", "NACK's feedback type"),
    Hook("aiortc.rtp", "pack_remb_fci", "function", "REMB to publishers", ("bitrate", "ssrcs")),
    Hook("aiortc.rtp", "unpack_remb_fci", "function", "REMB from subscribers", ("data",)),
    Hook("aiortc.clock", "current_ms", "function", "aiortc's clock (ms since 1900) for sender reports", ()),
    Hook("aiortc.codecs", "get_capabilities", "function", "the codecs a slot offers (VP8, H264, Opus)", ("kind",)),
    Hook("aiortc.codecs", "is_rtx", "function", "RTX is stripped both ways", ("codec",)),
    Hook("aiortc.sdp", "SessionDescription", "class", "an empty description to note late candidates in"),
    Hook("aioice.ice", "StunProtocol", "class", "an ICE socket's protocol: its datagram_received is replaced"),
    Hook("aioice.ice:StunProtocol", "datagram_received", "method", "replaced", ("self", "data", "addr")),
    Hook("aioice.ice", "CandidatePair", "class", "the nominated pair: protocol, remote_addr, local_candidate"),
)
