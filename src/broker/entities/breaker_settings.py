"""Changing a breaker's settings: each field checked, InvalidArgument naming it (under
`breaker.`), before anything changes."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from broker.entities.breaker import Breaker, BreakerEvent, BreakerSettings, BreakerState
from broker.entities.errors import InvalidArgument

MAX_SECONDS = 86_400.0  # a window or cool-down of at most a day
MAX_ATTEMPTS = 1_000_000
MAX_PROBES = 1_000


@dataclass(frozen=True, slots=True)
class SettingsChange:
    """The settings asked for; None keeps a setting (or takes its default for a new breaker)."""

    window: float | None = None
    min_attempts: int | None = None
    failure_rate: float | None = None
    cool_down: float | None = None
    probes: int | None = None

    def apply(self, settings: BreakerSettings | None) -> BreakerSettings:
        """The settings after the change, checked (InvalidArgument naming the field)."""
        self.check()
        base = settings or BreakerSettings()
        given = {k: getattr(self, k) for k in ("window", "min_attempts", "failure_rate", "cool_down", "probes")}
        return replace(base, **{k: v for k, v in given.items() if v is not None})

    def check(self) -> SettingsChange:
        _seconds(self.window, "breaker.window_seconds")
        _seconds(self.cool_down, "breaker.cool_down_seconds")
        _count(self.min_attempts, "breaker.min_attempts", MAX_ATTEMPTS)
        _count(self.probes, "breaker.probes", MAX_PROBES)
        rate = self.failure_rate
        if rate is not None and not 0 < rate <= 1:
            raise InvalidArgument("breaker.failure_rate", f"{rate:g} is outside (0, 1]: a fraction of attempts")
        return self


def _seconds(value: float | None, name: str) -> None:
    if value is not None and not 0 < value <= MAX_SECONDS:
        raise InvalidArgument(name, f"{value:g} is outside (0, {MAX_SECONDS:g}] seconds")


def _count(value: int | None, name: str, most: int) -> None:
    if value is not None and not 1 <= value <= most:
        raise InvalidArgument(name, f"{value} is outside 1 to {most}")


class Force(str, Enum):
    """An operator's hold on a breaker: OPEN or CLOSED until set back to AUTO."""

    OPEN = "open"
    CLOSED = "closed"
    AUTO = "auto"


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """What UpdateQueue asks of a queue's breaker: settings (creating it, defaults for the rest),
    a hold (a queue without a breaker gets one with the defaults), or its removal."""

    settings: SettingsChange | None = None
    force: Force | None = None
    remove: bool = False

    @property
    def empty(self) -> bool:
        return self.settings is None and self.force is None and not self.remove

    def check(self) -> BreakerChange:
        if self.remove and (self.settings is not None or self.force is not None):
            raise InvalidArgument("remove_breaker", "cannot be combined with breaker or force_breaker")
        if self.settings is not None:
            self.settings.check()
        return self

    def apply(self, queue: str, breaker: Breaker | None,
              now: datetime) -> tuple[Breaker | None, BreakerEvent | None]:
        """The breaker after the change (None: the queue has none) and the event of its state's change."""
        if self.remove:
            if breaker is None or not breaker.holds_back:
                return None, None
            return None, BreakerEvent(queue, breaker.state, BreakerState.CLOSED, "breaker removed", False, now)
        if self.empty:
            return breaker, None
        if breaker is None:
            breaker = Breaker(queue, self.settings.apply(None) if self.settings else BreakerSettings(), changed_at=now)
        elif self.settings is not None:
            breaker = breaker.reconfigured(self.settings.apply(breaker.settings))
        if self.force is None:
            return breaker, None
        return breaker.force(None if self.force is Force.AUTO else BreakerState(self.force.value), now)
