"""Protect rewritten RTP with a subscriber's SRTP session and send it on its ICE socket."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from aiortc import RTCDtlsTransport

from .. import seam
from ..rtp import HEADER
from ..seam import CandidatePair
from .native import NATIVE

logger = logging.getLogger(__name__)

# the SRTP session buffer is 1500 bytes and protection adds up to 16 (SRTP_MAX_TRAILER_LEN)
MAX_PLAIN = seam.SESSION_BUFFER - 16
srtp_protect = seam.srtp_protect

READ_SIZE = 65536
"""What a socket read asks for: any UDP datagram, as asyncio's own reads (never truncated)."""

CONNECTED = os.environ.get("MEDIA_CONNECTED_SOCKETS", "1") != "0"
"""Whether the C path sends on a socket connected to each subscriber (see Wire)."""


class Wire(socket.socket):
    """A UDP socket connected to one subscriber, on the same address and port as its ICE socket.

    send() on a connected socket skips the route lookup that every sendto() to an address pays
    (about 1 µs of the 5-6 the kernel takes per datagram). Both sockets allow address reuse, and
    the kernel gives a datagram to the socket that matches it best: those from the subscriber's
    address now come here, and are handed to ICE's protocol as if its socket had read them;
    those from anywhere else (a new path, another candidate) still reach the ICE socket.

    A slot bound to it keeps it open (a descriptor number is never reused under a slot); it is
    closed when the last reference goes.
    """

    def __init__(self, ice: Any, remote: tuple[Any, ...], protocol: asyncio.DatagramProtocol) -> None:
        loop = asyncio.get_running_loop()
        super().__init__(ice.family, socket.SOCK_DGRAM)
        try:
            # both sockets must allow it; on the ICE socket it only matters to this bind
            ice.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.setblocking(False)
            self.bind(ice.getsockname())
            self.connect(remote)
        except OSError:
            self.close()
            raise
        self.protocol = protocol
        self.loop = loop
        self.loop.add_reader(self.fileno(), self._read)

    def _read(self) -> None:
        for _ in range(64):
            try:
                data, addr = self.recvfrom(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # an ICMP error (port unreachable) reported on a connected socket: keep reading
                continue
            self.protocol.datagram_received(data, addr)

    def stop(self) -> None:
        """Stop reading: ICE's socket takes the subscriber's datagrams again once this closes."""
        if self.fileno() >= 0:
            self.loop.remove_reader(self.fileno())

    def __del__(self) -> None:
        if getattr(self, "_closed", True):  # closed, or never opened
            return
        with contextlib.suppress(Exception):
            self.stop()
        self.close()


class Output:
    """Protect and send rewritten RTP to one subscriber, bypassing aiortc's coroutine chain."""

    __slots__ = (
        "_addr",
        "_wire",
        "_buffer",
        "_cdata",
        "_length",
        "_nominated",
        "_pair",
        "_sendto",
        "_fileno",
        "_session",
        "_srtp",
        "_view",
        "dtls",
    )

    def __init__(self, dtls: RTCDtlsTransport) -> None:
        self.dtls = dtls
        self._pair: CandidatePair | None = None
        self._nominated: dict[int, CandidatePair] = seam.nominated_pairs(dtls)
        self._srtp: Any = None
        self._cdata: Any = None
        self._buffer: Any = None
        self._view = memoryview(b"")
        self._length: Any = seam.new_length()
        self._sendto: Callable[..., Any] | None = None
        self._addr: tuple[str, int] = ("", 0)
        self._session: Any = None
        self._fileno: Callable[[], int] | None = None
        self._wire: Wire | None = None

    def _resolve(self, pair: CandidatePair | None) -> bool:
        """Cache the SRTP session and the UDP socket of the selected candidate pair."""
        self._pair = None
        session = seam.tx_session(self.dtls)
        if pair is None or session is None:
            return False
        transport = pair.protocol.transport
        if transport is None:
            return False
        # the socket itself: asyncio's DatagramTransport.sendto costs about a microsecond more,
        # and a full send buffer only drops this datagram, as the network would
        sock = transport.get_extra_info("socket")
        raw = seam.raw_socket(transport)
        self._session = session
        # the C path only needs the descriptor: asyncio's and uvloop's socket wrappers both give it
        self._fileno = getattr(sock, "fileno", None)
        self._srtp, self._cdata, self._buffer = seam.session_parts(session)
        # slicing a memoryview hands the protected packet to sendto without copying it
        self._view = memoryview(self._buffer)
        self._sendto = raw.sendto if raw is not None else transport.sendto
        self._addr = pair.remote_addr
        self._pair = pair
        self._rewire(sock, pair)
        return True

    def _rewire(self, sock: Any, pair: CandidatePair) -> None:
        """Connect a Wire to the pair's remote address for the C path, where the socket allows."""
        self.close()
        if not (CONNECTED and NATIVE) or sock is None:
            return
        local = getattr(pair, "local_candidate", None)
        if local is not None and local.type != "host":
            # a relayed candidate's socket talks to the TURN server, not to the subscriber
            return
        try:
            self._wire = Wire(sock, pair.remote_addr, pair.protocol)
        except (OSError, AttributeError, TypeError, RuntimeError) as exc:
            # a socket wrapper without these methods, an address the kernel refuses: sendto()
            logger.debug("no connected socket to %s: %s", pair.remote_addr, exc)

    def close(self) -> None:
        """Hand the subscriber's datagrams back to ICE's socket (slots still bound keep the Wire)."""
        if self._wire is not None:
            self._wire.stop()
            self._wire = None

    def native_target(
        self,
    ) -> tuple[Any, int, int, tuple[str, int] | None, dict[int, CandidatePair], CandidatePair] | bool | None:
        """Tell NativeSlot where to send: (keepalive, srtp_t address, socket fd, address, pairs, pair).

        The keepalive owns the srtp_t and the descriptor; the address is None for a Wire.

        None while DTLS-SRTP is not up (the packet is dropped, as send() would); False when only
        Python can send (a transport without a socket), so the slot calls send() from then on.
        """
        pair = self._nominated.get(1)
        if pair is not self._pair and not self._resolve(pair):
            return None
        if pair is None or self._fileno is None:
            return False
        fd = self._fileno()
        if fd < 0:
            return None
        address = seam.srtp_address(self._srtp)
        wire = self._wire
        if wire is not None and wire.fileno() >= 0:
            return (self._session, wire), address, wire.fileno(), None, self._nominated, pair
        return self._session, address, fd, self._addr, self._nominated, pair

    @property
    def ready(self) -> bool:
        """Whether DTLS-SRTP is up, so that a keyframe sent now is not lost."""
        pair = self._nominated.get(1)
        if pair is not None and pair is self._pair:
            return True
        return self._resolve(pair)

    def send(self, b0: int, b1: int, seq: int, ts: int, ssrc: int, payload: bytes) -> None:
        """Send one RTP packet made of a fresh header and a payload."""
        pair = self._nominated.get(1)
        if pair is not self._pair and not self._resolve(pair):
            return
        n = 12 + len(payload)
        if n > MAX_PLAIN:
            return
        buf = self._buffer
        HEADER.pack_into(buf, 0, b0, b1, seq, ts, ssrc)
        buf[12:n] = payload
        length = self._length
        length[0] = n
        if srtp_protect(self._srtp, self._cdata, length):
            return
        try:
            self._sendto(self._view[: length[0]], self._addr)  # type: ignore[misc]
        except OSError:
            return

    def send_packet(self, packet: bytes) -> None:
        """Send one whole RTP packet, a retransmission."""
        pair = self._nominated.get(1)
        if pair is not self._pair and not self._resolve(pair):
            return
        n = len(packet)
        if n > MAX_PLAIN:
            return
        buf = self._buffer
        buf[0:n] = packet
        length = self._length
        length[0] = n
        if srtp_protect(self._srtp, self._cdata, length):
            return
        try:
            self._sendto(self._view[: length[0]], self._addr)  # type: ignore[misc]
        except OSError:
            return


class Sink:
    """What a slot sends through: an Output, or a recorder in tests."""

    def send(self, b0: int, b1: int, seq: int, ts: int, ssrc: int, payload: bytes) -> None:
        """Send one RTP packet made of a fresh header and a payload."""
        raise NotImplementedError

    def send_packet(self, packet: bytes) -> None:
        """Send one whole RTP packet."""
        raise NotImplementedError
