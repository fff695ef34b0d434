"""How the SDK's clients retry one logical call (part of ConnectionOptions)."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class CallRetry:
    """How a client retries one logical call (UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED
    with a RetryInfo hint).

    Backoff before retry ``n`` (1-based) is ``min(max_backoff, initial_backoff * multiplier**(n-1))``
    with equal jitter (half fixed, half random), so a retry never fires immediately.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 5.0
    multiplier: float = 2.0
    # A server's RetryInfo hint is honoured up to this many seconds.
    max_retry_info_delay: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"CallRetry.max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_backoff < 0 or self.max_backoff < self.initial_backoff:
            raise ValueError("CallRetry: need 0 <= initial_backoff <= max_backoff")
        if self.multiplier < 1:
            raise ValueError(f"CallRetry.multiplier must be at least 1, got {self.multiplier}")

    def backoff(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier ** max(0, retry - 1))
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
