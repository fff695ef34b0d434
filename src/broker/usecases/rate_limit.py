"""Rate limiting: one token bucket per caller and class of call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from broker.entities.errors import ResourceExhausted
from broker.entities.rate import Rate, TokenBucket

# The classes of calls that can be limited (the gRPC edge maps each RPC to one). "settle" is the
# class of the lease calls (Heartbeat, Ack, Nack), a setting's value kept for compatibility.
CALL_CLASSES = ("enqueue", "lease", "settle", "admin")
# Past this many buckets, full ones (callers idle long enough to have refilled) are dropped.
MAX_BUCKETS = 10_000


class RateLimiter:
    """Admits a call, or raises ResourceExhausted with the seconds until it would be admitted.

    Classes without a configured Rate are not limited. Taking a token is one short critical
    section under a lock, so the count is exact under any number of concurrent calls (asyncio
    tasks or threads).
    """

    def __init__(self, rates: Mapping[str, Rate], clock: Callable[[], float] = time.monotonic) -> None:
        self._rates, self._clock = dict(rates), clock
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return bool(self._rates)

    def admit(self, caller: str, call_class: str) -> None:
        rate = self._rates.get(call_class)
        if rate is None:
            return
        with self._lock:
            now = self._clock()
            bucket = self._buckets.get((caller, call_class))
            if bucket is None:
                self._forget_idle(now)
                bucket = self._buckets[(caller, call_class)] = TokenBucket(rate, now)
            wait = bucket.take(now)
        if wait:
            raise ResourceExhausted(
                f"rate limit for {call_class} calls ({rate.per_second:g}/s, burst {rate.burst:g}) "
                f"reached; retry in {wait:.3f}s", retry_after=wait)

    def _forget_idle(self, now: float) -> None:
        if len(self._buckets) >= MAX_BUCKETS:
            for key in [k for k, b in self._buckets.items() if b.full(now)]:
                del self._buckets[key]
