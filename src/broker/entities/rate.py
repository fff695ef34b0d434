"""The token bucket: `rate` tokens a second, at most `burst` saved up. A pure rule; the caller
passes the time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rate:
    """A limit: `per_second` calls a second on average, bursts of up to `burst` at once."""

    per_second: float
    burst: float

    def __post_init__(self) -> None:
        if not self.per_second > 0:
            raise ValueError(f"rate must be positive, got {self.per_second}")
        if not self.burst >= 1:
            raise ValueError(f"burst must be at least 1, got {self.burst}")


class TokenBucket:
    """Starts full. `take(now)` spends one token, or says how long until one is there."""

    __slots__ = ("rate", "tokens", "updated")

    def __init__(self, rate: Rate, now: float) -> None:
        self.rate, self.tokens, self.updated = rate, rate.burst, now

    def take(self, now: float, cost: float = 1.0) -> float:
        """0.0 when the call may go ahead (the tokens are spent); else the seconds to wait."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.rate.burst, self.tokens + elapsed * self.rate.per_second)
        self.updated = max(self.updated, now)
        if self.tokens >= cost:
            self.tokens -= cost
            return 0.0
        return (cost - self.tokens) / self.rate.per_second

    def full(self, now: float) -> bool:
        return self.tokens + max(0.0, now - self.updated) * self.rate.per_second >= self.rate.burst
