"""The token bucket and the limiter: exact counts, exact waits, correct under concurrency."""

from __future__ import annotations

import asyncio
import threading

import pytest
from hypothesis import given, settings, strategies as st

from broker.entities.errors import ResourceExhausted
from broker.entities.rate import Rate, TokenBucket
from broker.usecases.rate_limit import MAX_BUCKETS, RateLimiter


def test_bucket_starts_full_then_asks_for_the_exact_wait():
    bucket = TokenBucket(Rate(4, 2), now=0.0)
    assert bucket.take(0.0) == 0 and bucket.take(0.0) == 0
    assert bucket.take(0.0) == pytest.approx(0.25)
    assert bucket.take(0.1) == pytest.approx(0.15)
    assert bucket.take(0.25) == 0


def test_bucket_never_saves_more_than_the_burst():
    bucket = TokenBucket(Rate(10, 3), now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    assert [bucket.take(1000.0) for _ in range(4)][:3] == [0, 0, 0]
    assert bucket.take(1000.0) > 0


def test_bucket_ignores_time_going_backwards():
    bucket = TokenBucket(Rate(1, 1), now=10.0)
    assert bucket.take(10.0) == 0
    assert bucket.take(5.0) == pytest.approx(1.0)


@pytest.mark.parametrize("rate, burst", [(0, 1), (-1, 1), (1, 0.5), (float("nan"), 1)])
def test_rate_rejects_nonsense(rate, burst):
    with pytest.raises(ValueError):
        Rate(rate, burst)


@settings(max_examples=60, deadline=None)
@given(rate=st.floats(0.1, 1000), burst=st.integers(1, 50),
       gaps=st.lists(st.floats(0, 2), min_size=1, max_size=60))
def test_admitted_calls_never_exceed_burst_plus_rate_times_elapsed(rate, burst, gaps):
    bucket, now, admitted = TokenBucket(Rate(rate, burst), 0.0), 0.0, 0
    for gap in gaps:
        now += gap
        wait = bucket.take(now)
        if wait == 0:
            admitted += 1
        else:
            assert 0 < wait <= 1 / rate + 1e-9
        assert admitted <= burst + rate * now + 1e-6


def test_limiter_raises_with_retry_after_and_leaves_other_classes_alone():
    limiter = RateLimiter({"lease": Rate(2, 1)}, clock=lambda: 0.0)
    limiter.admit("a", "lease")
    with pytest.raises(ResourceExhausted) as refused:
        limiter.admit("a", "lease")
    assert refused.value.retry_after == pytest.approx(0.5) and "lease" in str(refused.value)
    limiter.admit("b", "lease")
    for _ in range(100):
        limiter.admit("a", "enqueue")


def test_limiter_is_exact_under_threads():
    limiter = RateLimiter({"enqueue": Rate(1e-6, 500)})
    admitted, start = [], threading.Barrier(8)

    def hammer():
        start.wait()
        for _ in range(200):
            try:
                limiter.admit("p", "enqueue")
                admitted.append(1)
            except ResourceExhausted:
                pass

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(admitted) == 500


async def test_limiter_is_exact_under_concurrent_tasks():
    limiter = RateLimiter({"settle": Rate(1e-6, 37)})
    results = await asyncio.gather(*(_try(limiter) for _ in range(300)))
    assert sum(results) == 37


async def _try(limiter: RateLimiter) -> int:
    await asyncio.sleep(0)
    try:
        limiter.admit("p", "settle")
        return 1
    except ResourceExhausted:
        return 0


def test_limiter_forgets_refilled_buckets_when_it_holds_too_many():
    now = [0.0]
    limiter = RateLimiter({"admin": Rate(1000, 1)}, clock=lambda: now[0])
    for i in range(MAX_BUCKETS):
        limiter.admit(f"caller-{i}", "admin")
    now[0] += 1.0
    limiter.admit("one-more", "admin")
    assert len(limiter._buckets) == 1
