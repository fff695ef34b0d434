"""A queue's controls (flow control), kept in the database so that every replica obeys them, and
the rules of changing them. Every control is enforced inside the claim: a held-back job simply
waits (it is never failed, retried or dead-lettered by flow control)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from broker.entities.breaker import Breaker
from broker.entities.errors import InvalidArgument
from broker.entities.queue_retry import RetryDefaults

# The largest concurrency limit accepted (a bound of sense, not of representation).
MAX_CONCURRENCY_LIMIT = 1_000_000


@dataclass(frozen=True, slots=True)
class QueueControls:
    """What a queue lets through. The defaults are a queue nobody configured: every queue name
    has them until an operator changes one."""

    name: str
    paused: bool = False  # Lease hands out nothing; Enqueue, Ack and Nack work as ever
    concurrency_limit: int | None = None  # at most this many RUNNING jobs across all replicas
    updated_at: datetime | None = None
    breaker: Breaker | None = None  # its circuit breaker (entities/breaker.py), kept apart
    retry: RetryDefaults | None = None  # its run-time default retry policy (entities/queue_retry.py), kept apart

    @property
    def limited(self) -> bool:
        return self.concurrency_limit is not None


@dataclass(frozen=True, slots=True)
class ControlsChange:
    """A change asked for; None leaves a control as it is. A concurrency_limit of 0 removes it."""

    paused: bool | None = None
    concurrency_limit: int | None = None

    def check(self) -> ControlsChange:
        """Self, or InvalidArgument naming the field."""
        limit = self.concurrency_limit
        if limit is not None and not 0 <= limit <= MAX_CONCURRENCY_LIMIT:
            raise InvalidArgument("concurrency_limit",
                                  f"{limit} is outside 0 (no limit) to {MAX_CONCURRENCY_LIMIT}")
        return self

    def apply(self, controls: QueueControls, now: datetime) -> QueueControls:
        """The controls after the change (updated_at moves only when something changed)."""
        paused = controls.paused if self.paused is None else self.paused
        limit = controls.concurrency_limit if self.concurrency_limit is None else (self.concurrency_limit or None)
        if (paused, limit) == (controls.paused, controls.concurrency_limit):
            return controls
        return replace(controls, paused=paused, concurrency_limit=limit, updated_at=now)


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One change of a queue's controls, as the queue's event log keeps it."""

    queue: str
    before: QueueControls
    after: QueueControls
    at: datetime

    @property
    def changes(self) -> tuple[str, ...]:
        """What changed, in words: paused, resumed, concurrency_limit."""
        out = []
        if self.before.paused != self.after.paused:
            out.append("paused" if self.after.paused else "resumed")
        if self.before.concurrency_limit != self.after.concurrency_limit:
            out.append("concurrency_limit")
        return tuple(out)

    @property
    def opens(self) -> bool:
        """The change may let jobs through that were held back (resumed, limit raised or removed)."""
        b, a = self.before, self.after
        if b.paused and not a.paused:
            return True
        return b.limited and (not a.limited or a.concurrency_limit > b.concurrency_limit)
