"""The retry policy: how long a failed job waits before its next attempt."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, replace

from broker.entities.errors import InvalidArgument


class Jitter(enum.Enum):
    NONE = "none"    # the computed delay exactly
    FULL = "full"    # uniform in [0, delay]
    EQUAL = "equal"  # delay/2 + uniform in [0, delay/2]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """delay(n) = min(max_delay, initial_delay * multiplier^(n-1)), then jitter; seconds."""

    initial_delay: float = 1.0
    max_delay: float = 3600.0
    multiplier: float = 2.0
    jitter: Jitter = Jitter.FULL

    def __post_init__(self) -> None:
        if not self.initial_delay >= 0:
            raise InvalidArgument("retry_policy.initial_delay", "must not be negative")
        if not self.max_delay >= self.initial_delay:
            raise InvalidArgument("retry_policy.max_delay", "must be at least initial_delay")
        if not 1.0 <= self.multiplier <= 1000.0:
            raise InvalidArgument("retry_policy.multiplier", "must be between 1 and 1000")

    def base_delay(self, attempt: int) -> float:
        """The delay after failed attempt number `attempt` (1-based), before jitter."""
        exponent = max(attempt, 1) - 1
        if self.initial_delay == 0:
            return 0.0
        try:
            raw = self.initial_delay * self.multiplier**exponent
        except OverflowError:
            return self.max_delay
        return min(self.max_delay, raw)

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The delay after failed attempt `attempt`, jitter applied."""
        base = self.base_delay(attempt)
        if self.jitter is Jitter.NONE or base == 0:
            return base
        draw = (rng or random).random()
        if self.jitter is Jitter.FULL:
            return base * draw
        return base / 2 + base / 2 * draw

    def merged(self, **overrides: object) -> "RetryPolicy":
        """This policy with the given fields replaced; None leaves a field as it is."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})
