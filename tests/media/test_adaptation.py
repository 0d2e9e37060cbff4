"""Receive-side adaptation: the bandwidth estimate from a subscriber's RTCP, and the camera layer."""

from __future__ import annotations

import pytest

from media_server.forwarding import Slot, Track
from media_server.policy import Adaptation, BandwidthEstimator, LayerChoice, RetransmissionBudget
from media_server.publisher import Bitrate

from .packets import VP8_DELTA, VP8_KEY, VP8_PT, Recorder, rtp

SETTINGS = Adaptation()
NORMAL = 700_000.0
LOW = 200_000.0


def lossy_reports(estimator: BandwidthEstimator, fraction_lost: int, start: float, seconds: int) -> None:
    """Feed one report block per second about one stream of 100 packets a second."""
    for i in range(seconds + 1):
        estimator.on_receiver_report([(0xAAAA, fraction_lost, 1000 + 100 * i)], start + i)


def rembs(estimator: BandwidthEstimator, values: list[float], start: float, every: float = 0.5) -> float:
    """Feed REMBs at a steady pace; return the time of the last one."""
    for i, value in enumerate(values):
        estimator.on_remb(value, start + i * every)
    return start + (len(values) - 1) * every


def test_a_remb_climbing_below_what_is_sent_is_no_ceiling() -> None:
    # Chromium's first REMBs on a subscribe connection (measured): about half of the 78 kbit/s
    # it received, climbing 3 kbit/s a second; no overuse, so nothing says the link is short
    estimator = BandwidthEstimator()
    choice = LayerChoice()
    estimator.sent_bps = 78_000
    for i in range(4 * 20):
        now = i / 4
        estimator.on_remb(39_600 + 3_000 * now, now)
        assert estimator.estimate(now) is None
        assert not choice.update(now, estimator.estimate(now), 78_000, 20_000)


def test_a_remb_that_drops_is_a_ceiling_while_the_link_is_congested() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = NORMAL
    t = rembs(estimator, [1_000_000, 1_000_000, 600_000, 610_000, 620_000], start=0.0)
    assert estimator.estimate(t) == 620_000


def test_after_the_congestion_the_estimate_grows_again() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = LOW
    rembs(estimator, [1_000_000, 300_000], start=0.0, every=1.0)
    hold = SETTINGS.congestion_hold_s
    t = rembs(estimator, [300_000] * 8, start=2.0, every=1.0)
    # a ceiling until the hold after the drop at t=1 is over, then 8 % a second from the last REMB
    drop_at, every = 1.0, 1.0
    last_in_hold = drop_at + hold - every
    assert estimate_at(estimator, t) == pytest.approx(300_000 * 1.08 ** (t - last_in_hold))


def estimate_at(estimator: BandwidthEstimator, now: float) -> float:
    value = estimator.estimate(now)
    assert value is not None
    return value


def test_a_remb_lagging_behind_more_video_does_not_lower_the_cameras() -> None:
    # a second camera doubles what is sent; the browser's REMB climbs 3 % a second behind it
    estimator = BandwidthEstimator()
    choice = LayerChoice()
    estimator.sent_bps = NORMAL
    rembs(estimator, [1.5 * NORMAL] * 4, start=0.0)
    estimator.sent_bps = 2 * NORMAL
    for i in range(40):
        now = 2.0 + i / 4
        if i % 4 == 0:
            estimator.on_remb(1.5 * NORMAL * 1.03 ** (i / 4), now)
        assert not choice.update(now, estimator.estimate(now), 2 * NORMAL, 2 * LOW)


def test_one_spurious_overuse_does_not_lower_the_cameras() -> None:
    estimator = BandwidthEstimator()
    choice = LayerChoice()
    estimator.sent_bps = NORMAL
    values = [1.2 * NORMAL] * 4 + [0.85 * NORMAL * 1.05 ** (i / 2) for i in range(12)]
    for i in range(4 * 8):
        now = i / 4
        if i % 2 == 0:
            estimator.on_remb(values[i // 2], now)
        assert not choice.update(now, estimator.estimate(now), NORMAL, LOW)


def test_a_congested_link_lowers_the_cameras() -> None:
    # the link carries 80 % of the normal layers: overuse after overuse, the REMB stays under it
    estimator = BandwidthEstimator()
    choice = LayerChoice()
    estimator.sent_bps = NORMAL
    carried = 0.8 * NORMAL
    low = False
    for i in range(4 * 6):
        now = i / 4
        if i % 2 == 0:
            estimator.on_remb(carried * (0.85 if i % 8 == 0 else 0.95), now)
        low = choice.update(now, estimator.estimate(now), NORMAL, LOW)
    assert low


def test_an_old_remb_no_longer_counts() -> None:
    estimator = BandwidthEstimator()
    estimator.on_remb(300_000, now=0.0)
    assert estimator.estimate(SETTINGS.remb_timeout_s + 0.1) is None


def test_a_remb_after_a_silence_is_not_an_overuse() -> None:
    estimator = BandwidthEstimator()
    estimator.on_remb(2_000_000, now=0.0)
    estimator.on_remb(500_000, now=SETTINGS.remb_timeout_s + 1)
    estimator.on_remb(500_000, now=SETTINGS.remb_timeout_s + 2)
    assert estimator.estimate(SETTINGS.remb_timeout_s + 2) is None


def test_nothing_heard_means_no_estimate() -> None:
    assert BandwidthEstimator().estimate(10.0) is None


def test_heavy_loss_lowers_the_estimate_by_half_the_loss_each_second() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = NORMAL
    lossy_reports(estimator, fraction_lost=64, start=0.0, seconds=1)  # 25 % lost
    assert estimator.estimate(1.0) == pytest.approx(NORMAL * (1 - 0.25 / 2))
    estimator.on_receiver_report([(0xAAAA, 64, 1200)], 2.0)
    assert estimator.estimate(2.0) == pytest.approx(NORMAL * (1 - 0.25 / 2) ** 2)


def test_moderate_loss_holds_and_no_loss_grows_the_loss_estimate() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = NORMAL
    lossy_reports(estimator, fraction_lost=64, start=0.0, seconds=1)
    after_loss = NORMAL * (1 - 0.25 / 2)
    lossy_reports(estimator, fraction_lost=13, start=2.0, seconds=2)  # 5 %: hold
    assert estimator.estimate(4.0) == pytest.approx(after_loss)
    lossy_reports(estimator, fraction_lost=0, start=5.0, seconds=3)
    assert estimator.estimate(8.0) == pytest.approx(after_loss * 1.08**4)


def test_loss_is_weighted_by_the_packets_of_each_stream() -> None:
    # 50 % of a 10-packet stream and none of a 190-packet one: 2.5 %, not congestion
    estimator = BandwidthEstimator()
    estimator.sent_bps = NORMAL
    for second, (audio, video) in enumerate([(0, 0), (10, 190), (20, 380)]):
        blocks = [(1, 128 if second else 0, 500 + audio), (2, 0, 7000 + video)]
        estimator.on_receiver_report(blocks, float(second))
    assert estimator.estimate(2.0) is None


def test_the_estimate_is_the_lower_of_remb_and_loss() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = NORMAL
    lossy_reports(estimator, fraction_lost=64, start=0.0, seconds=1)
    estimator.on_remb(5_000_000, now=1.0)
    assert estimator.estimate(1.0) == pytest.approx(NORMAL * (1 - 0.25 / 2))
    estimator.on_remb(100_000, now=1.5)
    assert estimator.estimate(1.5) == 100_000


def choice_after(choice: LayerChoice, estimates: list[tuple[float, float]]) -> bool:
    low = choice.low
    for now, estimate in estimates:
        low = choice.update(now, estimate, NORMAL, LOW)
    return low


def every_quarter(start: float, end: float, estimate: float) -> list[tuple[float, float]]:
    """An estimate seen at each tick from start to end included (quarter seconds: exact floats)."""
    return [(start + i / 4, estimate) for i in range(round((end - start) * 4) + 1)]


WEAK = 0.85 * NORMAL
COMFORTABLE = NORMAL * SETTINGS.up_margin
DOWN = SETTINGS.down_after_s
UP = SETTINGS.up_after_s


def test_cameras_go_low_when_the_estimate_stays_below_the_need() -> None:
    choice = LayerChoice()
    assert not choice_after(choice, every_quarter(0.0, DOWN - 0.25, WEAK))
    assert choice_after(choice, [(DOWN, WEAK)])


def test_a_short_dip_does_not_lower_the_cameras() -> None:
    choice = LayerChoice()
    dip = every_quarter(0.0, DOWN - 0.25, WEAK) + every_quarter(DOWN, 5.0, NORMAL) + every_quarter(5.25, 5 + DOWN, WEAK)
    assert not choice_after(choice, dip)


def test_an_estimate_just_under_the_need_keeps_the_normal_layers() -> None:
    choice = LayerChoice()
    for i in range(40):
        assert not choice.update(i / 4, 0.95 * NORMAL, NORMAL, LOW)


def test_no_downgrade_when_the_low_layer_saves_little() -> None:
    # a publisher still ramping up sends both layers at about the same rate
    choice = LayerChoice()
    for i in range(40):
        assert not choice.update(i / 4, 0.5 * NORMAL, NORMAL, 0.95 * NORMAL)


def test_cameras_come_back_only_well_above_the_need_for_some_seconds() -> None:
    choice = LayerChoice()
    assert choice_after(choice, every_quarter(0.0, DOWN, WEAK))
    # above the need but inside the margin: stays low however long
    assert choice_after(choice, every_quarter(3.0, 60.0, NORMAL * 1.1))
    assert choice_after(choice, every_quarter(60.25, 60.25 + UP - 0.25, COMFORTABLE))
    assert not choice_after(choice, [(60.25 + UP, COMFORTABLE)])


def test_a_dip_restarts_the_wait_before_going_back_up() -> None:
    choice = LayerChoice()
    assert choice_after(choice, every_quarter(0.0, DOWN, WEAK))
    steps = every_quarter(3.0, 3.0 + UP - 1, COMFORTABLE) + [(3.0 + UP - 0.75, WEAK)]
    assert choice_after(choice, steps + every_quarter(3.0 + UP - 0.5, 3.0 + 2 * UP - 0.75, COMFORTABLE))
    assert not choice_after(choice, [(3.0 + 2 * UP - 0.5, COMFORTABLE)])


def test_a_failed_return_doubles_the_next_wait_and_a_lasting_one_resets_it() -> None:
    choice = LayerChoice()
    assert choice_after(choice, every_quarter(0.0, DOWN, WEAK))
    t = 3.0
    assert not choice_after(choice, every_quarter(t, t + UP, COMFORTABLE))
    # the link could not carry the normal layers: down again within failed_return_s
    t += UP + 0.25
    assert choice_after(choice, every_quarter(t, t + DOWN, WEAK))
    t += DOWN + 0.25
    assert choice_after(choice, every_quarter(t, t + 2 * UP - 0.25, COMFORTABLE))
    assert not choice_after(choice, [(t + 2 * UP, COMFORTABLE)])
    # this return lasts past failed_return_s: the next wait is up_after_s again
    t += 2 * UP
    assert not choice_after(choice, every_quarter(t, t + SETTINGS.failed_return_s + 1, COMFORTABLE))
    t += SETTINGS.failed_return_s + 1.25
    assert choice_after(choice, every_quarter(t, t + DOWN, WEAK))
    t += DOWN + 0.25
    assert choice_after(choice, every_quarter(t, t + UP - 0.25, COMFORTABLE))
    assert not choice_after(choice, [(t + UP, COMFORTABLE)])


def test_the_wait_doubles_only_up_to_its_maximum() -> None:
    choice = LayerChoice()
    t = 0.0
    for _ in range(8):
        assert choice_after(choice, every_quarter(t, t + DOWN, WEAK))
        t += DOWN + 0.25
        wait = 0.0
        while choice.update(t + wait, COMFORTABLE, NORMAL, LOW):
            wait += 0.25
        t += wait + 0.25
    assert wait == SETTINGS.up_after_max_s


def test_an_unknown_estimate_keeps_the_layer() -> None:
    choice = LayerChoice()
    assert choice_after(choice, every_quarter(0.0, DOWN, WEAK))
    for i in range(100):
        assert choice.update(3.0 + i, None, NORMAL, LOW)


def test_reset_goes_back_to_the_normal_layers() -> None:
    choice = LayerChoice()
    assert choice_after(choice, every_quarter(0.0, DOWN, WEAK))
    choice.reset()
    assert not choice.low


def test_bitrate_is_measured_over_the_last_two_seconds() -> None:
    bitrate = Bitrate()
    total = 0
    for tick in range(31):
        # 25 000 bytes a second for 3 s, then 5 000
        total += 5_000 if tick <= 15 else 1_000
        bitrate.sample(total, tick * 0.2)
    assert bitrate.bps == pytest.approx(5_000 * 8, rel=0.15)


def test_a_remb_wobbling_at_the_browsers_floor_is_no_new_overuse() -> None:
    # after a weak spell Chromium's REMB can sit at its 5 kbit/s floor and wobble (5159 -> 5000):
    # each wobble must not restart the congestion hold, or the cameras never come back
    estimator = BandwidthEstimator()
    estimator.sent_bps = LOW
    rembs(estimator, [1_000_000, 5_159], start=0.0, every=1.0)  # a real drop at t=1
    t = rembs(estimator, [5_000, 5_159, 5_000, 5_159, 5_000, 5_159, 5_000, 5_159], start=2.0, every=1.0)
    # past the hold: no lower than what it is sent without complaint, and growing from there
    first = estimate_at(estimator, t)
    assert first >= LOW
    later = rembs(estimator, [5_000, 5_159] * 5, start=t + 1.0, every=1.0)
    assert estimate_at(estimator, later) == pytest.approx(first * 1.08**10)


def test_the_loss_estimate_has_a_floor_and_no_loss_means_the_link_carries_what_it_is_sent() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = LOW
    lossy_reports(estimator, fraction_lost=230, start=0.0, seconds=30)  # 90 % lost for 30 s
    assert estimate_at(estimator, 30.0) == SETTINGS.min_bps
    lossy_reports(estimator, fraction_lost=0, start=31.0, seconds=1)
    assert estimate_at(estimator, 32.0) >= LOW


def test_retransmissions_get_a_share_of_what_is_sent() -> None:
    budget = RetransmissionBudget()
    sent_bps = 400_000.0  # 25 % of it: 12.5 kB/s, half a second of burst
    allowed = sum(budget.allow(1000, sent_bps, 0.0) for _ in range(100))
    assert allowed == 6
    assert not budget.allow(1000, sent_bps, 0.01)
    assert sum(budget.allow(1000, sent_bps, 1.0) for _ in range(100)) == 6  # refilled, capped at the burst
    # a weak link sent little still gets its minimum
    weak = RetransmissionBudget()
    assert sum(weak.allow(500, 1_000.0, 0.0) for _ in range(100)) == SETTINGS.rtx_min_bps / 8 / 2 // 500


def test_a_nack_flood_is_answered_within_the_budget() -> None:
    track = Track("alice", "camera", "normal", "video", {VP8_PT: "video/VP8"})
    track.allowed = True
    sent = Recorder()
    slot = Slot("video", 5, sent)
    slot.payload_types = {"video/VP8": 100}
    slot.attach(track)
    for seq in range(200):
        track.on_rtp(rtp(seq, 0, (VP8_KEY if seq == 0 else VP8_DELTA) + bytes(1000)), seq)
    forwarded = len(sent.packets)
    budget = RetransmissionBudget()

    def allow(size: int) -> bool:
        return budget.allow(size, 100_000.0, 0.0)

    answered = sum(1 for seq in range(200) if slot.retransmit(seq, allow))
    assert len(sent.packets) - forwarded == answered == SETTINGS.rtx_min_bps // 8 // 2 // 1022 + 1


AUDIO = 40_000.0
TOO_WEAK = 0.8 * LOW
PAUSE = SETTINGS.pause_after_s


def paused_after(choice: LayerChoice, estimates: list[tuple[float, float]]) -> bool:
    for now, estimate in estimates:
        choice.update(now, estimate, NORMAL, LOW, AUDIO)
    return choice.paused


def test_a_link_too_weak_for_the_low_cameras_pauses_the_video_one_step_at_a_time() -> None:
    choice = LayerChoice()
    # first the low cameras, after down_after_s
    assert not paused_after(choice, every_quarter(0.0, DOWN, TOO_WEAK))
    assert choice.low
    # then no video, after pause_after_s below the low layers' need (counted from that tick)
    assert not paused_after(choice, every_quarter(DOWN + 0.25, DOWN + PAUSE - 0.25, TOO_WEAK))
    assert paused_after(choice, [(DOWN + PAUSE, TOO_WEAK)])
    assert choice.low


def test_the_video_comes_back_on_the_low_cameras_once_the_link_carries_them() -> None:
    choice = LayerChoice()
    assert paused_after(choice, every_quarter(0.0, DOWN + PAUSE, TOO_WEAK))
    # enough for the low layers with the margin, but not yet for up_after_s
    t = DOWN + PAUSE + 0.25
    assert paused_after(choice, every_quarter(t, t + UP - 0.25, LOW * SETTINGS.up_margin))
    assert not paused_after(choice, [(t + UP, LOW * SETTINGS.up_margin)])
    # back on the low cameras, whose own way up waits its full time from here
    assert choice.low
    assert choice_after(choice, every_quarter(t + UP + 0.25, t + 2 * UP, COMFORTABLE))
    assert not choice_after(choice, [(t + 2 * UP + 0.25, COMFORTABLE)])


def test_a_link_that_carries_the_low_cameras_never_pauses_the_video() -> None:
    choice = LayerChoice()
    assert not paused_after(choice, every_quarter(0.0, 60.0, 0.95 * LOW))
    assert choice.low


def test_without_the_need_of_the_sound_the_video_is_never_paused() -> None:
    choice = LayerChoice()
    for i in range(200):
        choice.update(i / 4, 0.1 * LOW, NORMAL, LOW)
    assert choice.low and not choice.paused


def test_reset_ends_a_pause() -> None:
    choice = LayerChoice()
    assert paused_after(choice, every_quarter(0.0, DOWN + PAUSE, TOO_WEAK))
    choice.reset()
    assert not choice.paused and not choice.low
