"""Receive-side adaptation: the bandwidth estimate from a subscriber's RTCP, and the camera layer."""

from __future__ import annotations

import pytest

from media_server.connection import Bitrate
from media_server.policy import Adaptation, BandwidthEstimator, LayerChoice

SETTINGS = Adaptation()
NORMAL = 700_000.0
LOW = 200_000.0


def lossy_reports(estimator: BandwidthEstimator, fraction_lost: int, start: float, seconds: int) -> None:
    """Feed one report block per second about one stream of 100 packets a second."""
    for i in range(seconds + 1):
        estimator.on_receiver_report([(0xAAAA, fraction_lost, 1000 + 100 * i)], start + i)


def test_a_remb_below_what_is_sent_is_the_estimate() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = NORMAL
    estimator.on_remb(300_000, now=0.0)
    assert estimator.estimate(0.5) == 300_000


def test_a_remb_above_what_is_sent_lets_the_estimate_grow() -> None:
    # a browser's REMB stays near 1.5 times what it receives: it is a floor, not the link's size
    estimator = BandwidthEstimator()
    estimator.sent_bps = LOW
    for second in range(6):
        estimator.on_remb(1.5 * LOW, now=float(second))
    assert estimator.estimate(5.0) == pytest.approx(1.5 * LOW * 1.08**5)


def test_a_lower_remb_after_growth_takes_over_at_once() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = LOW
    for second in range(6):
        estimator.on_remb(1.5 * LOW, now=float(second))
    estimator.sent_bps = NORMAL
    estimator.on_remb(250_000, now=6.0)
    assert estimator.estimate(6.0) == 250_000


def test_an_old_remb_no_longer_counts() -> None:
    estimator = BandwidthEstimator()
    estimator.on_remb(300_000, now=0.0)
    assert estimator.estimate(SETTINGS.remb_timeout_s + 0.1) is None


def test_nothing_heard_means_no_estimate() -> None:
    assert BandwidthEstimator().estimate(10.0) is None


def test_heavy_loss_estimates_the_sent_rate_less_half_the_loss() -> None:
    estimator = BandwidthEstimator()
    estimator.sent_bps = NORMAL
    lossy_reports(estimator, fraction_lost=64, start=0.0, seconds=1)  # 25 % lost
    assert estimator.estimate(1.0) == pytest.approx(NORMAL * (1 - 0.25 / 2))


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


WEAK = 500_000.0
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


def test_no_downgrade_when_the_low_layer_saves_nothing() -> None:
    choice = LayerChoice()
    for i in range(40):
        assert not choice.update(i / 4, 100_000, NORMAL, NORMAL)


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
