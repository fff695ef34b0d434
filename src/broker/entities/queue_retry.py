"""A queue's default retry policy set at run time (UpdateQueue), over the broker's settings
(BROKER_DEFAULT_MAX_ATTEMPTS, BROKER_RETRY_*, BROKER_QUEUE_DEFAULTS): each field set here wins,
each field left None keeps the setting's value. A job's own retry fields still win over both."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime

from broker.entities.errors import InvalidArgument
from broker.entities.queue import MAX_DURATION, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy

_POLICY = ("initial_delay", "max_delay", "multiplier", "jitter")
# The wire's names of the fields (UpdateQueueRequest.retry), for the messages of bad input.
WIRE = {"max_attempts": "retry.max_attempts", "initial_delay": "retry.initial_delay_seconds",
        "max_delay": "retry.max_delay_seconds", "multiplier": "retry.multiplier", "jitter": "retry.jitter"}


@dataclass(frozen=True, slots=True)
class RetryDefaults:
    """What a queue's run-time default retry policy sets (None: the setting's value)."""

    max_attempts: int | None = None
    initial_delay: float | None = None
    max_delay: float | None = None
    multiplier: float | None = None
    jitter: Jitter | None = None
    updated_at: datetime | None = None

    def over(self, base: QueueDefaults) -> QueueDefaults:
        """The queue's defaults with these fields in place of the settings'."""
        retry = replace(base.retry, **{k: getattr(self, k) for k in _POLICY if getattr(self, k) is not None})
        return replace(base, max_attempts=self.max_attempts or base.max_attempts, retry=retry)

    @property
    def empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self) if f.name != "updated_at")


@dataclass(frozen=True, slots=True)
class RetryChange:
    """The fields asked for (None: unchanged), or `reset` to the settings' policy."""

    max_attempts: int | None = None
    initial_delay: float | None = None
    max_delay: float | None = None
    multiplier: float | None = None
    jitter: Jitter | None = None
    reset: bool = False

    @property
    def empty(self) -> bool:
        return not self.reset and self == RetryChange()

    def check(self, most_attempts: int) -> RetryChange:
        """Each value on its own (InvalidArgument naming the field as on the wire)."""
        if self.reset and self != RetryChange(reset=True):
            raise InvalidArgument("reset_retry", "cannot be combined with retry")
        if self.max_attempts is not None and not 1 <= self.max_attempts <= most_attempts:
            raise InvalidArgument(WIRE["max_attempts"], f"{self.max_attempts} is outside 1 to {most_attempts}")
        for name in ("initial_delay", "max_delay"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_DURATION:
                raise InvalidArgument(WIRE[name], f"{value:g} is outside 0 to {MAX_DURATION:g} seconds")
        if self.multiplier is not None and not 1 <= self.multiplier <= 1000:
            raise InvalidArgument(WIRE["multiplier"], f"{self.multiplier:g} is outside 1 to 1000")
        return self

    def apply(self, current: RetryDefaults | None, base: QueueDefaults, now: datetime) -> RetryDefaults | None:
        """The run-time defaults after the change, checked as a whole over `base` (the settings'
        defaults of the queue): a max delay below the initial one is refused, naming it."""
        if self.reset:
            return None
        if self.empty:
            return current
        given = {k: getattr(self, k) for k in ("max_attempts", *_POLICY) if getattr(self, k) is not None}
        after = replace(current or RetryDefaults(), **given, updated_at=now)
        try:
            RetryPolicy(**{k: getattr(after.over(base).retry, k) for k in _POLICY})
        except InvalidArgument as exc:
            raise InvalidArgument(WIRE[exc.field.rsplit(".", 1)[-1]], exc.problem) from None
        if current is not None and replace(after, updated_at=current.updated_at) == current:
            return current
        return after
