"""A queue's controls (flow control), kept in the database so that every replica obeys them, and
the rules of changing them. Every control is enforced inside the claim: a held-back job simply
waits (it is never failed, retried or dead-lettered by flow control)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from broker.entities.breaker import Breaker
from broker.entities.errors import InvalidArgument
from broker.entities.flow_limits import MAX_PER_KEY, check_count, check_rate, default_burst
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
    per_key_concurrency: int | None = None  # at most this many RUNNING jobs per concurrency key
    rate_limit: float | None = None  # jobs leased per second, in bursts of at most rate_burst
    rate_burst: int | None = None
    breaker: Breaker | None = None  # its circuit breaker (entities/breaker.py), kept apart
    retry: RetryDefaults | None = None  # its run-time default retry policy (entities/queue_retry.py), kept apart

    @property
    def limited(self) -> bool:
        return self.concurrency_limit is not None

    @property
    def counted(self) -> bool:
        """A control that the claim counts under the queue's lock (a limit or a rate)."""
        return (self.concurrency_limit is not None or self.per_key_concurrency is not None
                or self.rate_limit is not None)

    def _limits(self) -> tuple:
        return (self.paused, self.concurrency_limit, self.per_key_concurrency, self.rate_limit,
                self.rate_burst)


@dataclass(frozen=True, slots=True)
class ControlsChange:
    """A change asked for; None leaves a control as it is. A limit (or rate) of 0 removes it."""

    paused: bool | None = None
    concurrency_limit: int | None = None
    per_key_concurrency: int | None = None
    rate_limit: float | None = None
    rate_burst: int | None = None

    def check(self) -> ControlsChange:
        """Self, or InvalidArgument naming the field."""
        check_count(self.concurrency_limit, "concurrency_limit", MAX_CONCURRENCY_LIMIT)
        check_count(self.per_key_concurrency, "per_key_concurrency", MAX_PER_KEY)
        check_rate(self.rate_limit, self.rate_burst)
        return self

    def apply(self, controls: QueueControls, now: datetime) -> QueueControls:
        """The controls after the change (updated_at moves only when something changed).
        InvalidArgument when the result would be a burst without a rate."""
        after = replace(
            controls, paused=_pick(self.paused, controls.paused, keep_false=True),
            concurrency_limit=_pick(self.concurrency_limit, controls.concurrency_limit),
            per_key_concurrency=_pick(self.per_key_concurrency, controls.per_key_concurrency),
            **self._rate(controls))
        if after._limits() == controls._limits():
            return controls
        return replace(after, updated_at=now)

    def _rate(self, controls: QueueControls) -> dict:
        rate = _pick(self.rate_limit, controls.rate_limit)
        if rate is None:
            if self.rate_burst:
                raise InvalidArgument("rate_burst", "a burst needs a rate_limit")
            return {"rate_limit": None, "rate_burst": None}
        if self.rate_burst == 0:
            raise InvalidArgument("rate_burst", "a rate limit needs a burst of at least 1")
        burst = self.rate_burst or controls.rate_burst or default_burst(rate)
        return {"rate_limit": rate, "rate_burst": burst}


def _pick(asked, current, keep_false: bool = False):
    """What a control becomes: unchanged when not asked; 0 (or 0.0) means none."""
    if asked is None:
        return current
    return asked if keep_false else (asked or None)


@dataclass(frozen=True, slots=True)
class QueueEvent:
    """One change of a queue's controls, as the queue's event log keeps it."""

    queue: str
    before: QueueControls
    after: QueueControls
    at: datetime

    @property
    def changes(self) -> tuple[str, ...]:
        """What changed, in words: paused, resumed, concurrency_limit, per_key_concurrency,
        rate_limit (the rate or its burst)."""
        b, a = self.before, self.after
        out = []
        if b.paused != a.paused:
            out.append("paused" if a.paused else "resumed")
        for name in ("concurrency_limit", "per_key_concurrency"):
            if getattr(b, name) != getattr(a, name):
                out.append(name)
        if (b.rate_limit, b.rate_burst) != (a.rate_limit, a.rate_burst):
            out.append("rate_limit")
        return tuple(out)

    @property
    def opens(self) -> bool:
        """The change may let jobs through that were held back (resumed, a limit or rate
        raised or removed)."""
        b, a = self.before, self.after
        if b.paused and not a.paused:
            return True
        return (_raised(b.concurrency_limit, a.concurrency_limit)
                or _raised(b.per_key_concurrency, a.per_key_concurrency)
                or _raised(b.rate_limit, a.rate_limit) or _raised(b.rate_burst, a.rate_burst))


def _raised(before, after) -> bool:
    """A limit (None: none) that lets more through than it did."""
    return before is not None and (after is None or after > before)
