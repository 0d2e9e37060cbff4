"""What a browser's publish and subscribe connections share: how they are made, their candidates."""

from __future__ import annotations

from time import monotonic

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCPeerConnection

from . import seam
from .ice import RemoteCandidates
from .protocol import MediaError
from .seam import SharedCertificate

NTP_UNIX_OFFSET_MS = 2_208_988_800_000
"""aiortc's arrival times count milliseconds from the NTP epoch (1900), time() from 1970."""
CERTIFICATE_RENEWAL_S = 86_400.0
"""The shared DTLS certificate is replaced after this long (aiortc's are valid for 30 days)."""


_certificate: SharedCertificate | None = None


def _share_certificate(pc: RTCPeerConnection) -> None:
    """Give a new connection the node's DTLS certificate instead of the one aiortc made for it.

    Before any transceiver, which is when aiortc makes the DTLS transport that takes it.
    """
    global _certificate
    if _certificate is None or monotonic() - _certificate.created > CERTIFICATE_RENEWAL_S:
        _certificate = SharedCertificate.generateCertificate()
    seam.share_certificate(pc, _certificate)


def new_peer_connection() -> RTCPeerConnection:
    """Return a connection to a browser, with the node's shared DTLS certificate."""
    # reachable by its host (or announced) candidates, it needs no STUN or TURN; one transport
    # for every transceiver, so that one Output serves all the slots of a subscriber
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[], bundlePolicy=RTCBundlePolicy.MAX_BUNDLE))
    _share_certificate(pc)
    return pc


async def add_candidate(
    pc: RTCPeerConnection, candidates: RemoteCandidates, candidate: str, mid: str | None, index: int | None
) -> None:
    """Add a browser's ICE candidate to a connection, if the node may send it checks."""
    text = candidate.removeprefix("candidate:").strip()
    if not text:
        return
    parsed = candidates.check(text)
    if parsed is None:
        return
    try:
        await pc.addIceCandidate(parsed.to_rtc(mid, index))
    except ValueError as exc:  # no such media section, or after end-of-candidates
        raise MediaError("invalid", f"ICE candidate not applicable: {exc}") from exc
