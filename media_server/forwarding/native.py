"""The C forwarding loop (`_fastpath.c`, built in place by setup.py): whether slots use it.

The loop over a track's slots runs in C when the extension is built: NativeSlot keeps the
rewriting state in C and fanout() forwards to every slot without entering the interpreter.
Without it, or with MEDIA_FORWARDER_C=0, PySlot does the same work in Python. The receive path
(unprotect, statistics, header parsing) runs in C as well unless MEDIA_RECEIVER_C=0.
"""

from __future__ import annotations

import logging
import os

from .. import seam

try:
    from .. import _fastpath as _fastpath
except ImportError:  # not built: the pure-Python path does the same work, slower
    _fastpath = None  # type: ignore[assignment]

logger = logging.getLogger(__name__)

NATIVE = _fastpath is not None and os.environ.get("MEDIA_FORWARDER_C", "1") != "0"
"""Whether slots forward through the C extension."""

NATIVE_RECEIVE = NATIVE and os.environ.get("MEDIA_RECEIVER_C", "1") != "0"
"""Whether publishers' packets are received in C too (_fastpath.Receiver), not by publisher.py's Python."""

RECEIVE_SET = NATIVE_RECEIVE and os.environ.get("MEDIA_RECEIVE_SET", "1") != "0"
"""Whether one epoll set (_fastpath.ReceiveSet) reads every publisher socket of a loop, not asyncio per socket."""

if _fastpath is not None:
    # the C module calls libsrtp on the sessions' srtp_t: it binds to pylibsrtp's copy, checked
    seam.bind_fastpath(_fastpath)
    if os.environ.get("MEDIA_SEGMENTED_SENDS", "1") == "0":
        # one datagram per system call, as before bursts were sent as one segmented datagram
        _fastpath.set_gso(False)
else:
    logger.warning("media_server/_fastpath.c is not built (make install): forwarding with the Python loop")


def segmented_sends() -> tuple[int, int]:
    """Return the segmented datagrams this process sent and the packets they carried (see Bursts)."""
    if _fastpath is None:
        return 0, 0
    _, sends, packets = _fastpath.gso_state()
    return sends, packets
