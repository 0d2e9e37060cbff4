"""Receive-side adaptation: a subscriber's bandwidth estimate, its camera layer, its retransmissions.

A subscriber's cameras drop to the low layer when its link cannot carry the normal ones
(docs/media.md, "Weak connections"). Each class is a small state machine on a given clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Adaptation:
    """Thresholds of the receive-side adaptation; the defaults suit a phone on a weak link."""

    enabled: bool = True
    down_margin: float = 0.9
    """Down when the estimate is below this many times the need of the normal layers (browsers
    count what they receive a little differently from us, and a congested link's REMB is about
    0.85 times what it carries)."""
    down_after_s: float = 2.0
    """... for this long (a browser's estimate after a single spurious overuse is back within
    about a second)."""
    pause_after_s: float = 4.0
    """On the low cameras, the video pauses (sound only) when the estimate stays below the low
    layers' need for this long: longer than lowering, as losing the video is the bigger loss."""
    up_margin: float = 1.25
    """Back up when the estimate is at least this many times the need of the normal layers ..."""
    up_after_s: float = 8.0
    """... for this long."""
    up_after_max_s: float = 64.0
    """A return that fails doubles the wait before the next one, up to this."""
    failed_return_s: float = 20.0
    """A return followed by a downgrade within this long failed."""
    min_saving: float = 0.1
    """Only lower the cameras if the low layers save at least this fraction of the need."""
    remb_drop: float = 0.03
    """A REMB this much below the previous one reports an overuse (libwebrtc sends one at once)."""
    congestion_hold_s: float = 4.0
    """After an overuse, the REMBs are the link's ceiling for this long."""
    remb_timeout_s: float = 5.0
    """A REMB older than this no longer counts (browsers send one about every second)."""
    loss_high: float = 0.10
    """Above this fraction of packets lost, the link is congested (GCC's loss threshold)."""
    loss_low: float = 0.02
    """Below this, it is not; in between the loss estimate holds."""
    loss_window_s: float = 1.0
    """Receiver reports are pooled over at least this long before their loss is judged."""
    growth_per_s: float = 1.08
    """Without congestion, an estimate grows by this factor per second (GCC's 8 %)."""
    max_bps: float = 50_000_000.0
    remb_floor_bps: float = 10_000.0
    """A REMB this low is a browser at its floor (libwebrtc's is 5 kbit/s): a drop from there is a
    wobble, no new overuse (a drop down to it is one)."""
    min_bps: float = 30_000.0
    """The loss estimate goes no lower: nothing below the low layers is chosen from it, and it has
    to grow back from there."""
    rtx_share: float = 0.25
    """Retransmissions to a subscriber may use up to this share of what it is sent ..."""
    rtx_min_bps: float = 16_000.0
    """... and at least this, so that a short loss is still repaired."""


class BandwidthEstimator:
    """What a subscriber's link can carry, from the RTCP its browser sends (REMB, receiver reports).

    A browser's REMB follows what it receives: it starts low and climbs slowly (a few kbit/s per
    second in Chromium), cannot rise much above what arrives (libwebrtc caps it at 1.5 times the
    incoming rate) and lags behind when more starts flowing, so it is no ceiling by itself. It
    becomes one when it drops, which is how the browser reports an overuse (queues growing on the
    path: it then asks for about 0.85 times what it measured), and stays one for
    `congestion_hold_s`; after that the delay estimate grows from it by 8 % per second, so that a
    subscriber on the low layers can be seen to carry the normal ones again. Loss in receiver
    reports gives a second estimate, as GCC's loss controller does: above 10 % it is lowered by
    half the loss (starting from what is sent), under 2 % it grows. The estimate is the lower of
    the two; None while neither has seen congestion.
    """

    def __init__(self, settings: Adaptation | None = None) -> None:
        self.settings = settings or Adaptation()
        self.sent_bps = 0.0
        """What the subscriber receives now, measured by the node."""
        self._remb: float | None = None
        self._remb_at = 0.0
        self._overuse_at: float | None = None
        self._delay: float | None = None
        self._loss: float | None = None
        self._loss_at = 0.0
        self._highest: dict[int, int] = {}
        self._lost = 0.0
        self._expected = 0
        self._window_start: float | None = None

    def on_remb(self, bps: float, now: float) -> None:
        """Take a REMB: the browser's estimate of its whole incoming link."""
        s = self.settings
        if self._remb is not None and now - self._remb_at >= s.remb_timeout_s:
            self._remb = self._delay = None
        if self._remb is not None and s.remb_floor_bps < self._remb and bps < self._remb * (1 - s.remb_drop):
            self._overuse_at = now
        if self._overuse_at is not None and now - self._overuse_at < s.congestion_hold_s:
            self._delay = bps
        elif self._delay is not None:
            # no overuse reported: the link carries at least what it is sent now
            self._delay = max(bps, self.sent_bps, self._grown(self._delay, now - self._remb_at))
        self._remb = bps
        self._remb_at = now

    def on_receiver_report(self, blocks: Iterable[tuple[int, int, int]], now: float) -> None:
        """Take the (SSRC, fraction lost, extended highest sequence) blocks of one receiver report.

        Only blocks about streams sent to this subscriber should be given. The loss is pooled
        over every stream, weighted by its packets, and judged about once per loss_window_s.
        """
        if self._window_start is None:
            self._window_start = now
        for ssrc, fraction_lost, highest_sequence in blocks:
            last = self._highest.get(ssrc)
            self._highest[ssrc] = highest_sequence
            expected = highest_sequence - last if last is not None else 0
            if 0 < expected < 0x8000:
                # fraction_lost is out of 256, over the packets expected since the last report
                self._lost += expected * fraction_lost / 256
                self._expected += expected
        if self._expected and now - self._window_start >= self.settings.loss_window_s:
            self._judge_loss(self._lost / self._expected, now)
            self._lost = 0.0
            self._expected = 0
            self._window_start = now

    def _judge_loss(self, loss: float, now: float) -> None:
        s = self.settings
        if loss > s.loss_high:
            # lowered again at each window while the loss lasts, from no more than what is sent
            base = self.sent_bps if self._loss is None else min(self._loss, self.sent_bps)
            if base > 0:
                self._loss = max(base * (1 - loss / 2), s.min_bps)
        elif loss < s.loss_low and self._loss is not None:
            # hardly any loss: the link carries what it is sent now, and maybe more
            self._loss = max(self._grown(self._loss, now - self._loss_at), self.sent_bps)
        self._loss_at = now

    def _grown(self, bps: float, seconds: float) -> float:
        s = self.settings
        # a long silence is not a long time without congestion
        seconds = min(max(seconds, 0.0), s.remb_timeout_s)
        return float(min(bps * s.growth_per_s**seconds, s.max_bps))

    def estimate(self, now: float) -> float | None:
        """Return the estimate in bits per second, or None while nothing says anything."""
        values = [] if self._loss is None else [self._loss]
        if self._delay is not None and now - self._remb_at < self.settings.remb_timeout_s:
            values.append(self._delay)
        return min(values) if values else None


class _Step:
    """One step down and back up (normal to low cameras, or low cameras to no video), with hysteresis.

    Down when the estimate stays below `down_margin` times the upper state's need for
    `down_after_s` (`pause_after_s` for the second step; and the lower state saves at least `min_saving`); back up when it stays above
    `up_margin` times that need for `up_after_s`, a wait doubled after each return that falls back
    within `failed_return_s`, so that a link that cannot carry the upper state is tried again less
    and less often.
    """

    def __init__(self, settings: Adaptation, down_after_s: float) -> None:
        self.settings = settings
        self.down_after_s = down_after_s
        self.down = False
        self.below_since: float | None = None
        self.above_since: float | None = None
        self.raised_at: float | None = None
        self.up_after = settings.up_after_s

    def reset(self) -> None:
        """Back to the upper state, waits at their start."""
        self.down = False
        self.below_since = self.above_since = self.raised_at = None
        self.up_after = self.settings.up_after_s

    def forget_timers(self) -> None:
        """An unknown estimate (or another step moving) starts the waits again."""
        self.below_since = self.above_since = None

    def update(self, now: float, estimate: float, need_up: float, need_down: float) -> bool:
        """Return whether this step is down now, given what the upper and lower states cost."""
        s = self.settings
        if not self.down:
            if need_down <= need_up * (1 - s.min_saving) and estimate < need_up * s.down_margin:
                if self.below_since is None:
                    self.below_since = now
                if now - self.below_since >= self.down_after_s:
                    self._go_down(now)
            else:
                self.below_since = None
                if self.raised_at is not None and now - self.raised_at >= s.failed_return_s:
                    self.raised_at = None
                    self.up_after = s.up_after_s
        elif estimate >= need_up * s.up_margin:
            if self.above_since is None:
                self.above_since = now
            if now - self.above_since >= self.up_after:
                self.down = False
                self.raised_at = now
                self.below_since = None
        else:
            self.above_since = None
        return self.down

    def _go_down(self, now: float) -> None:
        s = self.settings
        self.down = True
        self.below_since = self.above_since = None
        if self.raised_at is not None and now - self.raised_at < s.failed_return_s:
            self.up_after = min(self.up_after * 2, s.up_after_max_s)
        self.raised_at = None


class LayerChoice:
    """What a subscriber who asked for normal quality gets: normal cameras, low ones, or no video.

    Two steps of the same hysteresis (`_Step`): the cameras go to the low layer while the estimate
    stays below the need of the normal layers; from there, when the caller gives the need of the
    sound alone, the video pauses (sound only, as a student who chose "audio only" gets) while the
    estimate stays below even the need of the low layers. Each step comes back on its own, one at a
    time: no video, then low cameras, then normal ones. No probing is needed to come back: the
    estimate grows by itself while the link shows no congestion (BandwidthEstimator).
    """

    def __init__(self, settings: Adaptation | None = None) -> None:
        self.settings = settings or Adaptation()
        self._layer = _Step(self.settings, self.settings.down_after_s)
        self._pause = _Step(self.settings, self.settings.pause_after_s)

    @property
    def low(self) -> bool:
        """Whether the cameras are on the low layer (also while the video is paused)."""
        return self._layer.down

    @property
    def paused(self) -> bool:
        """Whether the video is paused: sound only."""
        return self._pause.down

    def reset(self) -> None:
        """Start again from the normal layers: the subscriber chose a quality itself."""
        self._layer.reset()
        self._pause.reset()

    def update(
        self, now: float, estimate: float | None, need_normal: float, need_low: float, need_audio: float | None = None
    ) -> bool:
        """Return whether the cameras should be on the low layer now; see `paused` for no video.

        Without need_audio the video is never paused.
        """
        if estimate is None:
            self._layer.forget_timers()
            self._pause.forget_timers()
            return self.low
        if self._pause.down:
            # only the way back up, to the low cameras
            self._pause.update(now, estimate, need_low, need_audio or 0.0)
            return self.low
        if self._layer.update(now, estimate, need_normal, need_low) and need_audio is not None:
            if self._pause.update(now, estimate, need_low, need_audio):
                # the cameras' own way back starts again once the video is back
                self._layer.forget_timers()
        else:
            self._pause.forget_timers()
        return self.low


class RetransmissionBudget:
    """A token bucket of bytes for one subscriber's retransmissions.

    On a weak link most packets are lost and NACKed, often more than once: answering them all
    would send more than the media itself and keep the link congested. Retransmissions get up to
    `rtx_share` of what the subscriber is sent (at least `rtx_min_bps`), with half a second of
    burst; NACKs beyond that go unanswered, and the next keyframe repairs the picture.
    """

    def __init__(self, settings: Adaptation | None = None) -> None:
        self.settings = settings or Adaptation()
        self._tokens = 0.0
        self._at: float | None = None

    def allow(self, size: int, sent_bps: float, now: float) -> bool:
        """Return whether a retransmission of size bytes may be sent now, and count it if so."""
        s = self.settings
        rate = max(sent_bps * s.rtx_share, s.rtx_min_bps) / 8
        burst = rate / 2
        if self._at is None:
            self._tokens = burst
        else:
            self._tokens = min(self._tokens + rate * max(now - self._at, 0.0), burst)
        self._at = now
        if self._tokens < size:
            return False
        self._tokens -= size
        return True
