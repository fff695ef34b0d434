"""The sliding window a breaker measures its failure rate over: two buckets of the window's
length, the previous one weighted by how much of it still lies inside the window (the sliding
window counter of rate limiters). A few integers per queue, however many outcomes it counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Window:
    started_at: datetime | None = None  # the current bucket's start; None: nothing counted yet
    attempts: int = 0
    failures: int = 0
    prev_attempts: int = 0
    prev_failures: int = 0

    def rolled(self, now: datetime, length: float) -> Window:
        """The buckets as they are at `now`: the current one becomes the previous one after
        `length` seconds, and both are forgotten after twice that."""
        if self.started_at is None:
            return Window(now)
        elapsed = (now - self.started_at).total_seconds()
        if elapsed < length:
            return self
        if elapsed < 2 * length:
            return Window(self.started_at + timedelta(seconds=length), 0, 0, self.attempts, self.failures)
        return Window(now)

    def add(self, now: datetime, length: float, attempts: int, failures: int) -> Window:
        w = self.rolled(now, length)
        return Window(w.started_at, w.attempts + attempts, w.failures + failures, w.prev_attempts, w.prev_failures)

    def estimate(self, now: datetime, length: float) -> tuple[float, float]:
        """Attempts and failures in the `length` seconds before `now`, estimated."""
        w = self.rolled(now, length)
        if w.started_at is None:
            return 0.0, 0.0
        weight = max(0.0, 1.0 - (now - w.started_at).total_seconds() / length)
        return w.attempts + w.prev_attempts * weight, w.failures + w.prev_failures * weight
