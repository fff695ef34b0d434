"""The circuit breaker as a pure state machine (entities/breaker.py): closed -> open when the
failure rate over the sliding window reaches the threshold with enough attempts; open ->
half-open after the cool-down; half-open lets `probes` through, their success closes it, a
failure opens it again; operators hold it open or closed. And the settings' checks."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.breaker import Breaker, BreakerSettings, BreakerState, outcome
from broker.entities.breaker_settings import BreakerChange, Force, SettingsChange
from broker.entities.breaker_window import Window
from broker.entities.errors import InvalidArgument
from broker.entities.job import Reason

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
SETTINGS = BreakerSettings(window=60, min_attempts=10, failure_rate=0.5, cool_down=30, probes=2)
C, O, H = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


def at(s: float) -> datetime:
    return T0 + timedelta(seconds=s)


def opened() -> Breaker:
    b, event = Breaker("q", SETTINGS).record(4, 6, at(0))
    assert b.state is O and event.to_state is O
    return b


def test_it_opens_when_the_failure_rate_reaches_the_threshold_with_enough_attempts():
    b = Breaker("q", SETTINGS)
    b, event = b.record(0, 9, at(0))  # 9 failures, but fewer than min_attempts
    assert b.state is C and event is None and b.window.failures == 9
    b, event = b.record(1, 0, at(1))  # 10 attempts, 9 failed
    assert b.state is O and event.from_state is C and "failure rate 0.90" in event.reason
    assert b.half_open_at == at(31) and b.holds_back


def test_successes_keep_it_closed():
    b, event = Breaker("q", SETTINGS).record(6, 4, at(0))
    assert b.state is C and event is None


def test_the_window_slides_old_outcomes_out():
    b, _ = Breaker("q", SETTINGS).record(0, 8, at(0))
    b, _ = b.record(5, 0, at(100))  # 100 s later: the 8 failures are in the previous bucket, weight 1/3
    attempts, failures = b.window.estimate(at(100), 60)
    assert failures == pytest.approx(8 * (1 - 40 / 60)) and b.state is C
    b, _ = b.record(0, 1, at(200))  # more than two windows later: all forgotten
    assert b.window.estimate(at(200), 60) == (1.0, 1.0) and b.state is C


def test_window_rolls_buckets():
    w = Window().add(at(0), 60, 10, 5)
    assert w.rolled(at(59), 60) == w
    assert w.rolled(at(61), 60) == Window(at(60), 0, 0, 10, 5)
    assert w.rolled(at(121), 60) == Window(at(121))


def test_open_ignores_outcomes_and_goes_half_open_after_the_cool_down():
    b = opened()
    assert b.record(0, 5, at(10)) == (b, None)
    assert b.cool_down(at(29)) == (b, None)
    half, event = b.cool_down(at(31))
    assert half.state is H and event.reason == "cool-down of 30s over" and half.probe_room == 2


def test_half_open_probes_close_it_on_success_and_open_it_on_failure():
    half, _ = opened().cool_down(at(31))
    leased = half.leased(2)
    assert leased.probe_room == 0 and leased.holds_back
    one, event = leased.record(1, 0, at(32))
    assert one.state is H and event is None and one.probe_successes == 1
    closed, event = one.record(1, 0, at(33))
    assert closed.state is C and event.reason == "2 probe(s) succeeded" and closed.window == Window()
    again, event = leased.record(0, 1, at(32))
    assert again.state is O and event.reason == "a probe failed" and again.half_open_at == at(62)


def test_an_operator_holds_it_open_or_closed_and_sets_it_back_to_automatic():
    b = Breaker("q", SETTINGS)
    held, event = b.force(O, at(0))
    assert held.forced and held.state is O and event.forced and held.half_open_at is None
    assert held.cool_down(at(10_000)) == (held, None) and held.record(9, 0, at(1)) == (held, None)
    assert held.force(O, at(2)) == (held, None)
    closed, _ = held.force(C, at(3))
    assert closed.state is C and closed.forced and closed.record(0, 99, at(4))[0].state is C
    auto, event = closed.force(None, at(5))
    assert not auto.forced and auto.state is C and event.reason == "set to automatic by an operator"
    with pytest.raises(ValueError):
        b.force(H, at(0))


def test_outcomes_are_acks_nacks_and_lapsed_leases():
    assert (outcome(Reason.ACK), outcome(Reason.NACK), outcome(Reason.EXPIRE)) == (True, False, False)
    assert outcome(Reason.LEASE) is None and outcome(Reason.CANCEL) is None


@pytest.mark.parametrize("change, field", [
    (SettingsChange(window=0), "breaker.window_seconds"),
    (SettingsChange(window=float("nan")), "breaker.window_seconds"),
    (SettingsChange(cool_down=-1), "breaker.cool_down_seconds"),
    (SettingsChange(min_attempts=0), "breaker.min_attempts"),
    (SettingsChange(probes=1001), "breaker.probes"),
    (SettingsChange(failure_rate=0), "breaker.failure_rate"),
    (SettingsChange(failure_rate=1.5), "breaker.failure_rate"),
])
def test_bad_settings_name_the_field(change, field):
    with pytest.raises(InvalidArgument) as caught:
        BreakerChange(settings=change).check()
    assert caught.value.field == field


def test_changes_create_reconfigure_force_and_remove():
    made, event = BreakerChange(settings=SettingsChange(probes=3)).apply("q", None, at(0))
    assert made.settings == BreakerSettings(probes=3) and event is None and made.state is C
    forced, event = BreakerChange(force=Force.OPEN).apply("q", made, at(1))
    assert forced.state is O and event.to_state is O
    tuned, event = BreakerChange(settings=SettingsChange(window=5)).apply("q", forced, at(2))
    assert tuned.state is O and tuned.settings.window == 5 and tuned.settings.probes == 3 and event is None
    gone, event = BreakerChange(remove=True).apply("q", tuned, at(3))
    assert gone is None and (event.from_state, event.to_state, event.reason) == (O, C, "breaker removed")
    with pytest.raises(InvalidArgument) as caught:
        BreakerChange(remove=True, force=Force.OPEN).check()
    assert caught.value.field == "remove_breaker"
