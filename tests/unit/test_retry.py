"""RetryPolicy: delay(n) = min(max_delay, initial_delay * multiplier^(n-1)), then jitter.
Property-tested with Hypothesis over the whole accepted range of settings."""

from __future__ import annotations

import math
import random
from datetime import datetime, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from broker.entities.errors import InvalidArgument
from broker.entities.lease import Failure, decide_failure
from broker.entities.retry import Jitter, RetryPolicy

ATTEMPTS = st.integers(min_value=-3, max_value=10**9)
SEEDS = st.integers(min_value=0, max_value=2**32)


@st.composite
def policies(draw, jitter=st.sampled_from(list(Jitter)), initial=st.floats(0.0, 1e7)):
    start = draw(initial)
    cap = start + draw(st.one_of(st.just(0.0), st.floats(0.0, 1e9)))
    multiplier = draw(st.one_of(st.sampled_from([1.0, 2.0, 1000.0]), st.floats(1.0, 1000.0)))
    return RetryPolicy(initial_delay=start, max_delay=cap, multiplier=multiplier, jitter=draw(jitter))


def reference(policy: RetryPolicy, attempt: int) -> float:
    """The design's formula, computed without overflow."""
    n = max(attempt, 1)
    if policy.initial_delay == 0:
        return 0.0
    log_raw = math.log(policy.initial_delay) + (n - 1) * math.log(policy.multiplier)
    if log_raw > math.log(policy.max_delay) + 1e-9:
        return policy.max_delay
    return min(policy.max_delay, policy.initial_delay * policy.multiplier ** (n - 1))


class Draws(random.Random):
    """A Random whose draws a test chooses."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


@settings(max_examples=300)
@given(policies(), ATTEMPTS, SEEDS)
@example(RetryPolicy(1.0, 3600.0, 1000.0, Jitter.FULL), 10**9, 0)
@example(RetryPolicy(1e7, 1e9, 1000.0, Jitter.EQUAL), 400, 0)
def test_a_delay_is_never_negative_nor_above_the_cap(policy, attempt, seed):
    delay = policy.delay(attempt, random.Random(seed))
    assert 0.0 <= delay <= policy.max_delay
    assert math.isfinite(delay)


@settings(max_examples=300)
@given(policies(jitter=st.just(Jitter.NONE)), st.integers(1, 5000))
def test_no_jitter_never_shrinks_from_one_attempt_to_the_next(policy, attempt):
    assert policy.delay(attempt) <= policy.delay(attempt + 1)
    assert policy.delay(attempt) <= policy.delay(attempt + 97)


@settings(max_examples=300)
@given(policies(jitter=st.just(Jitter.NONE), initial=st.floats(1e-6, 1e7)), st.integers(-3, 5000))
@example(RetryPolicy(1.0, 3600.0, 2.0, Jitter.NONE), 1030)   # 2.0**1029 overflows a float
@example(RetryPolicy(0.5, 1e9, 1000.0, Jitter.NONE), 104)   # 1000.0**103 overflows a float
def test_no_jitter_is_the_formula(policy, attempt):
    assert policy.delay(attempt) == pytest.approx(reference(policy, attempt), rel=1e-12)


def test_the_default_policy_doubles_from_one_second_up_to_an_hour():
    policy = RetryPolicy(jitter=Jitter.NONE)
    assert [policy.delay(n) for n in range(1, 14)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 3600]
    assert policy.delay(0) == policy.delay(-7) == 1.0  # attempts count from 1
    assert RetryPolicy() == RetryPolicy(1.0, 3600.0, 2.0, Jitter.FULL)


@settings(max_examples=300)
@given(policies(jitter=st.just(Jitter.FULL)), ATTEMPTS, SEEDS)
def test_full_jitter_lies_between_zero_and_the_base_delay(policy, attempt, seed):
    assert 0.0 <= policy.delay(attempt, random.Random(seed)) <= policy.base_delay(attempt)


@settings(max_examples=300)
@given(policies(jitter=st.just(Jitter.EQUAL)), ATTEMPTS, SEEDS)
def test_equal_jitter_lies_between_half_and_all_of_the_base_delay(policy, attempt, seed):
    base = policy.base_delay(attempt)
    assert base / 2 <= policy.delay(attempt, random.Random(seed)) <= base


@given(policies(), ATTEMPTS, st.floats(0.0, 1.0, exclude_max=True))
def test_jitter_scales_the_base_delay_by_the_draw(policy, attempt, draw):
    base = policy.base_delay(attempt)
    expected = {Jitter.NONE: base, Jitter.FULL: base * draw, Jitter.EQUAL: base / 2 + base / 2 * draw}
    assert policy.delay(attempt, Draws(draw)) == pytest.approx(expected[policy.jitter], rel=1e-12, abs=1e-300)


def test_the_same_seed_gives_the_same_delays():
    policy = RetryPolicy(initial_delay=3.0, max_delay=300.0)
    first, second = random.Random(11), random.Random(11)
    assert [policy.delay(n, first) for n in range(1, 20)] == [policy.delay(n, second) for n in range(1, 20)]


def test_a_zero_delay_draws_nothing():
    class NoDraws(random.Random):
        def random(self):
            raise AssertionError("drew a number")

    assert RetryPolicy(initial_delay=0.0, max_delay=0.0).delay(3, NoDraws()) == 0.0


def test_a_zero_initial_delay_stays_zero_however_many_attempts():
    policy = RetryPolicy(initial_delay=0.0, max_delay=600.0, multiplier=1000.0, jitter=Jitter.NONE)
    assert policy.delay(103) == 0.0
    assert policy.delay(104) == 0.0


# -- validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("fields, field", [
    ({"initial_delay": -0.001}, "retry_policy.initial_delay"),
    ({"initial_delay": float("nan")}, "retry_policy.initial_delay"),
    ({"initial_delay": 5.0, "max_delay": 4.0}, "retry_policy.max_delay"),
    ({"max_delay": float("nan")}, "retry_policy.max_delay"),
    ({"multiplier": 0.99}, "retry_policy.multiplier"),
    ({"multiplier": 1000.5}, "retry_policy.multiplier"),
    ({"multiplier": float("nan")}, "retry_policy.multiplier"),
])
def test_a_bad_policy_is_refused_naming_the_field(fields, field):
    with pytest.raises(InvalidArgument) as caught:
        RetryPolicy(**fields)
    assert caught.value.field == field


def test_merged_replaces_only_the_given_fields():
    policy = RetryPolicy(initial_delay=2.0, max_delay=50.0, multiplier=3.0, jitter=Jitter.EQUAL)
    assert policy.merged() == policy
    assert policy.merged(initial_delay=None, max_delay=70.0, jitter=Jitter.NONE) == RetryPolicy(
        2.0, 70.0, 3.0, Jitter.NONE)
    with pytest.raises(InvalidArgument):
        policy.merged(max_delay=1.0)


# Backoffs past what a datetime holds are cut, never an OverflowError (a bug found here once).


def test_a_policy_the_broker_accepts_always_yields_a_retry_time():
    try:
        policy = RetryPolicy(initial_delay=3e11, max_delay=3e11, jitter=Jitter.NONE)  # about 9,500 years
    except InvalidArgument:
        return  # refusing such a policy up front is a fix as good as clamping the retry time

    decision = decide_failure(1, 10, policy, Failure("x"), datetime(2030, 1, 1, tzinfo=timezone.utc))

    assert decision.run_at is not None
