"""pylibsrtp's sessions as the forwarder uses them: in place, and from C through a checked binding.

aiortc keeps a pylibsrtp Session per direction of a DTLS transport. The forwarder protects and
unprotects in that session's own 1500-byte buffer (no bytes object per packet), and
media_server/_fastpath.c calls libsrtp's srtp_protect and srtp_unprotect on the sessions' srtp_t. The C module finds
srtp_protect itself in the library pylibsrtp loaded and checks its libsrtp version first
(bind_fastpath): it never calls through an address it was handed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

from aiortc import RTCDtlsTransport
from aiortc.rtcdtlstransport import State
from pylibsrtp import (
    Session,
    _binding,
)

from .versions import UnsupportedVersions

logger = logging.getLogger(__name__)

LOGGED_FAILURES = frozenset((1, 10, 100, 1000))
"""Which of a connection's RTCP handler failures are logged (then one in 10,000)."""

ffi: Any = _binding.ffi
lib: Any = _binding.lib

SESSION_BUFFER = 1500
"""The size of a pylibsrtp Session's buffer (SRTP_MAX_TRAILER_LEN is left free for protection)."""
PROTECT_SIGNATURE = "srtp_err_status_t(*)(struct srtp_ctx_t_ *, void *, int *)"
"""srtp_protect and srtp_unprotect as libsrtp 2 declares them, and _fastpath.c calls them."""

srtp_protect: Callable[[Any, Any, Any], int] = lib.srtp_protect
"""libsrtp's srtp_protect(srtp_t, buffer, int *length), through cffi (checked types)."""


def binding_problem(signature: str, buffer_size: int) -> str | None:
    """Return why pylibsrtp's binding is not what the forwarder was written for, None if it is."""
    if signature != PROTECT_SIGNATURE:
        return f"pylibsrtp declares srtp_protect as {signature}, the forwarder calls {PROTECT_SIGNATURE}"
    if buffer_size != SESSION_BUFFER:
        return f"pylibsrtp's session buffer is {buffer_size} bytes, the forwarder writes up to {SESSION_BUFFER}"
    return None


def check_binding() -> None:
    """Raise UnsupportedVersions unless pylibsrtp's srtp_protect and session buffer are as expected."""
    buffer_size = ffi.sizeof(Session()._cdata)
    for name in ("srtp_protect", "srtp_unprotect", "srtp_unprotect_rtcp"):
        reason = binding_problem(ffi.typeof(getattr(lib, name)).cname, buffer_size)
        if reason is not None:
            raise UnsupportedVersions(reason.replace("srtp_protect", name))


def session_parts(session: Session) -> tuple[Any, Any, Any]:
    """Return a session's srtp_t, its buffer (char[]) and a Python buffer over it."""
    return session._srtp[0], session._cdata, session._buffer


def new_length() -> Any:
    """Return an int * for srtp_protect's length argument."""
    return ffi.new("int *")


def address(srtp: Any) -> int:
    """Return the address of an srtp_t, for C code that calls libsrtp on it."""
    return int(ffi.cast("uintptr_t", srtp))


def session_address(session: Session) -> int:
    """Return the address of a session's srtp_t."""
    return address(session._srtp[0])


def libsrtp_address(name: str) -> int:
    """Return the address of one of libsrtp's functions (the benchmark's generator calls them)."""
    return int(ffi.cast("uintptr_t", ffi.addressof(lib, name)))


def tx_session(dtls: RTCDtlsTransport) -> Session | None:
    """Return the session that protects what a transport sends, None until DTLS-SRTP is up."""
    if dtls._state != State.CONNECTED:
        return None
    session: Session | None = dtls._tx_srtp
    return session


def rx_session(dtls: RTCDtlsTransport) -> Session | None:
    """Return the session that unprotects what a transport receives, None until DTLS-SRTP is up."""
    session: Session | None = dtls._rx_srtp
    return session


def rx_target(dtls: RTCDtlsTransport) -> tuple[Session, int] | None:
    """Return the receive session and its srtp_t's address for the C receive path, None until up."""
    session: Session | None = dtls._rx_srtp
    if session is None:
        return None
    return session, address(session._srtp[0])


def rtp_unprotector(dtls: Any) -> Callable[[bytes], bytes | None]:
    """Return a function that unprotects an SRTP packet with the transport's receive session.

    It returns the plain packet, b"" for one that failed authentication or the replay check (to
    drop), and None before DTLS-SRTP is up (the packet goes on to aiortc). The packet is copied
    into the session's own buffer (at most SESSION_BUFFER bytes) and unprotected there.
    """
    return _unprotector(dtls, lib.srtp_unprotect)


def rtcp_unprotector(dtls: Any) -> Callable[[bytes], bytes | None]:
    """Return a function that unprotects an SRTCP packet with the transport's receive session, as rtp_unprotector."""
    return _unprotector(dtls, lib.srtp_unprotect_rtcp)


def _unprotector(dtls: Any, unprotect: Callable[[Any, Any, Any], int]) -> Callable[[bytes], bytes | None]:
    length = ffi.new("int *")

    def one(data: bytes) -> bytes | None:
        session = dtls._rx_srtp
        if session is None:
            return None
        n = len(data)
        if n > SESSION_BUFFER:
            return b""
        buffer = session._buffer
        buffer[0:n] = data
        length[0] = n
        if unprotect(session._srtp[0], session._cdata, length):
            return b""
        plain: bytes = buffer[0 : length[0]]
        return plain

    return one


def srtcp_first(
    dtls: Any, take: Callable[[bytes], None], otherwise: Callable[[bytes, tuple[Any, ...]], None]
) -> Callable[[bytes, tuple[Any, ...]], None]:
    """Return a socket's datagram handler that gives SRTCP, unprotected, straight to take.

    aiortc's way for an RTCP packet: aioice tries to parse it as STUN, queues it, and the DTLS
    transport's coroutine (resumed through five awaits on a later turn of the loop) unprotects
    it, parses every packet of it into objects and routes them to its senders and receivers.
    Here it is unprotected in the socket callback and take reads it at once. Everything else
    (STUN, DTLS, RTP, and RTCP before DTLS-SRTP is up) goes on to otherwise; a packet that fails
    authentication or the replay check is dropped, as aiortc drops it.
    """
    unprotect = rtcp_unprotector(dtls)
    failures = 0

    def received(data: bytes, addr: tuple[Any, ...]) -> None:
        nonlocal failures
        # RTCP (RFC 5761: a first byte of version 2, packet type 192-208), as aiortc tells it
        if len(data) >= 8 and 127 < data[0] < 192 and 191 < data[1] < 209:
            plain = unprotect(data)
            if plain is not None:
                if plain:
                    try:
                        take(plain)
                    except Exception:  # one bad packet from a browser: the socket goes on
                        failures += 1
                        if failures in LOGGED_FAILURES or failures % 10_000 == 0:  # not one log per packet
                            logger.exception("RTCP from %s could not be read (%d so far)", addr, failures)
                return
        otherwise(data, addr)

    return received


def bind_fastpath(fastpath: ModuleType) -> int:
    """Let the C forwarder call srtp_protect of pylibsrtp's libsrtp, after checking its version.

    The C module looks the library up among those already loaded (pylibsrtp's _binding, which
    carries libsrtp), reads srtp_get_version() and refuses any libsrtp whose srtp_protect is not
    the one it was compiled for. Returns the libsrtp version (major << 24 | minor << 16 | micro).
    """
    check_binding()
    try:
        version: int = fastpath.bind_libsrtp(_binding.__file__)
    except (OSError, ValueError) as exc:
        raise UnsupportedVersions(f"media_server/_fastpath.c refused pylibsrtp's libsrtp: {exc}") from exc
    return version
