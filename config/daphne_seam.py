"""The one place this project reaches into daphne's WebSocket protocol: a per-connection frame limit.

Why: a socket pushing 100,000 frames a second costs the single daphne process its whole CPU in
autobahn's frame parser and daphne's unbounded queue to the application, before the application
can drop anything (bench/abuse_flood.py; docs/reliability.md, "Flood benchmark"). Here, in the
daphne process, each connection gets a token bucket counted as frames are parsed
(`WEBSOCKET_FRAMES_PER_SECOND`, burst `WEBSOCKET_FRAME_BURST`, by default 3x the application's
per-user room limits, so a page never meets it). Over it, the connection is *not read*: the
transport stops reading and autobahn stops parsing what it already holds until the bucket has
refilled, so the frames above the rate stay in the flooder's own TCP buffers and cost this process
nothing (its `send` blocks). A connection held back continuously for
`WEBSOCKET_THROTTLED_SECONDS_BEFORE_ABORT` is aborted at the TCP level (RST, no close handshake
that a flooder would never read). While the connection's application queue holds more than
`WEBSOCKET_QUEUE_PAUSE` messages, reading pauses too (back-pressure; not counted towards the abort).
The application keeps its per-user limits (classroom/ratelimit.py, close code 4429) behind this.

Written for the exact versions in `TESTED`; with others `install()` refuses to start the process
unless `CV_DAPHNE_SEAM_UNTESTED=1` (to try an upgrade: then run tests/config/test_daphne_seam.py,
whose canaries check each hooked name below). `CV_DAPHNE_SEAM=off` leaves daphne untouched (for
the benchmark's "before" and as a kill switch).

Hooked names (on `daphne.ws_protocol.WebSocketProtocol`, methods it inherits from autobahn):

- `onFrameEnd`: autobahn calls it once per complete frame, data or control, fragment or not; the
  frame's tokens are taken here (control frames count too, so a ping flood is limited as well).
- `consumeData`: autobahn's loop over the buffered bytes; replaced for open/closing connections by
  the same loop that also stops while the connection is held back, so held frames stay unparsed.

Used as they are (canaries too): `current_frame.length`, `state`/`STATE_OPEN`/`STATE_CLOSING`/
`STATE_CLOSED`, `data` (autobahn's buffer of unparsed bytes), `processData()`, `dropConnection(abort=)`,
`wasClean`/`wasNotCleanReason`, daphne's `application_queue` and `client_addr`, and the Twisted
transport's `pauseProducing`/`resumeProducing`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any, cast

logger = logging.getLogger("classe_virtuelle.daphne_seam")

TESTED = {"daphne": "4.2.3", "autobahn": "26.10.2"}
HOOKED = ("onFrameEnd", "consumeData")
# A frame costs one token, plus one per whole 16 KiB (as classroom/ratelimit.py counts them).
FRAME_BYTES_PER_TOKEN = 16 * 1024
# How often a connection paused for its application queue looks again.
QUEUE_RETRY_SECONDS = 0.05


class SeamVersionError(RuntimeError):
    pass


class Limits:
    """The settings, read once at install."""

    def __init__(self, per_second: float, burst: float, abort_after: float, queue_pause: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self.abort_after = abort_after
        self.queue_pause = queue_pause


class ConnectionLimit:
    """One connection's bucket, which may go into debt by the frame just parsed."""

    __slots__ = ("limits", "tokens", "stamp", "throttled_since", "resume_call", "held", "aborted", "logged")

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.tokens = limits.burst
        self.stamp = time.monotonic()
        self.throttled_since: float | None = None
        self.resume_call: Any = None
        self.held = False
        self.aborted = False
        self.logged = False

    def take(self, cost: float, now: float) -> float:
        """Take the frame's tokens; return 0, or how long to wait before reading more."""
        tokens = min(self.limits.burst, self.tokens + (now - self.stamp) * self.limits.per_second)
        self.stamp = now
        if tokens >= self.limits.burst / 2:
            self.throttled_since = None  # it came back well under the rate: not "staying over"
        tokens -= cost
        self.tokens = tokens
        if tokens >= 0:
            return 0.0
        if self.throttled_since is None:
            self.throttled_since = now
        return -tokens / self.limits.per_second


def _versions() -> dict[str, str]:
    from importlib.metadata import version

    return {"daphne": version("daphne"), "autobahn": version("autobahn")}


def check_versions() -> None:
    found = _versions()
    if found == TESTED:
        return
    message = (
        f"config/daphne_seam.py was written for {TESTED}, this process has {found}: check each hooked "
        f"name ({', '.join(HOOKED)}) against the new code and run tests/config/test_daphne_seam.py, "
        "then update TESTED (set CV_DAPHNE_SEAM_UNTESTED=1 to try meanwhile)"
    )
    if os.environ.get("CV_DAPHNE_SEAM_UNTESTED") == "1":
        logger.warning("%s; going on because CV_DAPHNE_SEAM_UNTESTED=1", message)
        return
    raise SeamVersionError(message)


_installed: dict[str, Any] = {}


def install(limits: Limits | None = None) -> bool:
    """Hook daphne's WebSocket protocol (once per process); False when switched off."""
    if os.environ.get("CV_DAPHNE_SEAM", "on") == "off":
        logger.warning("CV_DAPHNE_SEAM=off: no per-connection frame limit in daphne")
        return False
    check_versions()
    from daphne.ws_protocol import WebSocketProtocol

    if limits is None:
        limits = limits_from_settings()
    _installed["limits"] = limits
    if "protocol" in _installed:
        return True
    original_frame_end = WebSocketProtocol.onFrameEnd
    original_consume = WebSocketProtocol.consumeData
    state_open, state_closing, state_closed = (
        WebSocketProtocol.STATE_OPEN,
        WebSocketProtocol.STATE_CLOSING,
        WebSocketProtocol.STATE_CLOSED,
    )
    from twisted.internet import reactor as installed_reactor
    from twisted.internet.base import ReactorBase

    # The module is typed as a set of zope interfaces, whose methods mypy cannot call; the reactor
    # daphne installs (asyncio's) is a ReactorBase.
    reactor = cast(ReactorBase, installed_reactor)

    def limit_of(protocol: Any) -> ConnectionLimit:
        limit: ConnectionLimit | None = protocol.__dict__.get("_cv_limit")
        if limit is None:
            limit = protocol._cv_limit = ConnectionLimit(_installed["limits"])
        return limit

    def resume(protocol: Any) -> None:
        limit = protocol._cv_limit
        limit.resume_call = None
        limit.held = False
        if protocol.state == state_closed:
            return
        if queue_full(protocol):
            hold(protocol, limit, QUEUE_RETRY_SECONDS)
            return
        protocol.consumeData()
        # Still held: what autobahn holds is parsed first, so the connection buffers at most one read.
        if not limit.held and protocol.state != state_closed:
            protocol.transport.resumeProducing()

    def hold(protocol: Any, limit: ConnectionLimit, seconds: float) -> None:
        if limit.held:
            return
        limit.held = True
        protocol.transport.pauseProducing()
        limit.resume_call = reactor.callLater(seconds, resume, protocol)

    def queue_full(protocol: Any) -> bool:
        queue = protocol.__dict__.get("application_queue")
        return queue is not None and queue.qsize() > _installed["limits"].queue_pause

    def abort(protocol: Any, limit: ConnectionLimit) -> None:
        limit.aborted = True
        if limit.resume_call is not None and limit.resume_call.active():
            limit.resume_call.cancel()
        limit.resume_call = None
        logger.warning(
            "WebSocket %s aborted: over %g frames/s for %g s",
            protocol.client_addr,
            limit.limits.per_second,
            limit.limits.abort_after,
        )
        protocol.wasClean = False
        protocol.wasNotCleanReason = "over the connection's frame rate"
        protocol.dropConnection(abort=True)

    def onFrameEnd(self: Any) -> Any:
        cost = 1 + self.current_frame.length // FRAME_BYTES_PER_TOKEN
        result = original_frame_end(self)
        limit = limit_of(self)
        if limit.aborted or self.state == state_closed:
            return result
        now = time.monotonic()
        wait = limit.take(cost, now)
        if wait:
            if limit.throttled_since is not None and now - limit.throttled_since >= limit.limits.abort_after:
                abort(self, limit)
            else:
                if not limit.logged:
                    limit.logged = True
                    logger.info("WebSocket %s over %g frames/s: not read until under it", self.client_addr,
                                limit.limits.per_second)  # fmt: skip
                hold(self, limit, wait)
        elif queue_full(self):
            hold(self, limit, QUEUE_RETRY_SECONDS)
        return result

    def consumeData(self: Any) -> None:
        if self.state not in (state_open, state_closing):
            original_consume(self)
            return
        limit = limit_of(self)
        # autobahn's own loop for these states, which also stops while the connection is held back
        while not limit.held and self.processData() and self.state != state_closed:
            pass

    WebSocketProtocol.onFrameEnd = onFrameEnd
    WebSocketProtocol.consumeData = consumeData
    _installed["protocol"] = WebSocketProtocol
    _installed["originals"] = {"onFrameEnd": original_frame_end, "consumeData": original_consume}
    return True


def limits_from_settings() -> Limits:
    from django.conf import settings

    return Limits(
        per_second=float(settings.WEBSOCKET_FRAMES_PER_SECOND),
        burst=float(settings.WEBSOCKET_FRAME_BURST),
        abort_after=float(settings.WEBSOCKET_THROTTLED_SECONDS_BEFORE_ABORT),
        queue_pause=int(settings.WEBSOCKET_QUEUE_PAUSE),
    )
