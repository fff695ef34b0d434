"""The flow controls beyond pause and the global limit: a limit per concurrency key and a rate
limit (a token bucket). Their checks, and the bucket's arithmetic that both stores follow (the
PostgreSQL claim computes the same in SQL: infra/pg/claims.py)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from broker.entities.errors import InvalidArgument

# Bounds of sense, not of representation.
MAX_PER_KEY = 1_000_000
MAX_RATE = 1_000_000.0
MAX_BURST = 1_000_000


def check_count(value: int | None, field: str, maximum: int) -> None:
    """None (unchanged) or 0 (no limit) to `maximum`, else InvalidArgument naming `field`."""
    if value is not None and not 0 <= value <= maximum:
        raise InvalidArgument(field, f"{value} is outside 0 (no limit) to {maximum}")


def check_rate(rate: float | None, burst: int | None) -> None:
    """A rate in jobs per second (0 removes it) and its burst; a rate needs a burst of 1 or more."""
    if rate is not None and not (math.isfinite(rate) and 0 <= rate <= MAX_RATE):
        raise InvalidArgument("rate_limit", f"{rate} is outside 0 (no limit) to {MAX_RATE:g} jobs per second")
    check_count(burst, "rate_burst", MAX_BURST)
    if burst == 0 and rate is not None and rate > 0:
        raise InvalidArgument("rate_burst", "a rate limit needs a burst of at least 1")


def default_burst(rate: float) -> int:
    """The burst of a rate limit set without one: a second's worth, at least 1."""
    return min(MAX_BURST, max(1, math.ceil(rate)))


@dataclass(frozen=True, slots=True)
class Bucket:
    """A queue's token bucket: `tokens` as they were at `refilled_at`."""

    tokens: float
    refilled_at: datetime

    def at(self, now: datetime, rate: float, burst: int) -> float:
        """The tokens at `now`: refilled at `rate` per second, never above `burst`. A `now`
        before refilled_at (another replica's clock ahead) refills nothing."""
        elapsed = max(0.0, (now - self.refilled_at).total_seconds())
        return min(float(burst), self.tokens + rate * elapsed)

    def take(self, n: int, now: datetime, rate: float, burst: int) -> Bucket:
        return Bucket(self.at(now, rate, burst) - n, max(now, self.refilled_at))
