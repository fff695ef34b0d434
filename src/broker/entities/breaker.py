"""A queue's circuit breaker: a pure state machine, kept in the database so every replica obeys it.

    CLOSED --failure rate >= threshold over the window (at least min_attempts)--> OPEN
    OPEN --cool-down over--> HALF_OPEN (lets `probes` jobs be leased)
    HALF_OPEN --a failure--> OPEN        HALF_OPEN --`probes` successes--> CLOSED

An operator may force it OPEN or CLOSED (held there, outcomes ignored) and set it back to
automatic (CLOSED, with a fresh window). Outcomes are what workers report: an Ack is a success,
a Nack (any) and a lapsed lease are failures. A breaker that is not CLOSED holds the queue's
jobs back: they wait, nothing fails them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum

from broker.entities.breaker_window import Window
from broker.entities.job import Reason


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerSettings:
    """When a breaker opens and how it recovers (checked by breaker_settings.SettingsChange)."""

    window: float = 60.0  # seconds of the sliding window the failure rate is measured over
    min_attempts: int = 20  # fewer outcomes in the window never open it
    failure_rate: float = 0.5  # opens when failures / attempts reaches this (0 < rate <= 1)
    cool_down: float = 30.0  # seconds OPEN before it goes HALF_OPEN
    probes: int = 1  # jobs leased while HALF_OPEN; as many successes close it


@dataclass(frozen=True, slots=True)
class BreakerEvent:
    """One change of a breaker's state, with its reason, as the breaker event log keeps it."""

    queue: str
    from_state: BreakerState
    to_state: BreakerState
    reason: str
    forced: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class Breaker:
    """A queue's breaker as it is now. `half_open_at` is the end of an automatic OPEN's cool-down."""

    queue: str
    settings: BreakerSettings = BreakerSettings()
    state: BreakerState = BreakerState.CLOSED
    forced: bool = False
    reason: str = ""
    changed_at: datetime | None = None
    half_open_at: datetime | None = None
    window: Window = field(default_factory=Window)
    probes_leased: int = 0
    probe_successes: int = 0

    @property
    def holds_back(self) -> bool:
        """The plain claim leaves the queue alone (only probes, when HALF_OPEN, are leased)."""
        return self.state is not BreakerState.CLOSED

    @property
    def probe_room(self) -> int:
        """How many more jobs may be leased as probes now (0 unless HALF_OPEN)."""
        if self.state is not BreakerState.HALF_OPEN or self.forced:
            return 0
        return max(self.settings.probes - self.probes_leased, 0)

    def leased(self, count: int) -> Breaker:
        """After `count` probe jobs were leased."""
        return replace(self, probes_leased=self.probes_leased + count) if count else self

    def record(self, successes: int, failures: int, now: datetime) -> tuple[Breaker, BreakerEvent | None]:
        """After outcomes reported at `now`. Ignored while forced or OPEN (the jobs leased before
        it opened finishing late)."""
        if self.forced or self.state is BreakerState.OPEN or not (successes or failures):
            return self, None
        if self.state is BreakerState.HALF_OPEN:
            if failures:
                return self._open(now, "a probe failed")
            done = self.probe_successes + successes
            if done >= self.settings.probes:
                return self._move(BreakerState.CLOSED, now, f"{done} probe(s) succeeded")
            return replace(self, probe_successes=done), None
        window = self.window.add(now, self.settings.window, successes + failures, failures)
        attempts, failed = window.estimate(now, self.settings.window)
        after = replace(self, window=window)
        s = self.settings
        if attempts >= s.min_attempts and failed >= s.failure_rate * attempts:
            return after._open(now, f"failure rate {failed / attempts:.2f} >= {s.failure_rate:g} "
                                    f"over {s.window:g}s ({failed:.0f} of {attempts:.0f} attempts)")
        return after, None

    def cool_down(self, now: datetime) -> tuple[Breaker, BreakerEvent | None]:
        """HALF_OPEN once an automatic OPEN's cool-down is over."""
        if self.state is not BreakerState.OPEN or self.forced or self.half_open_at is None or now < self.half_open_at:
            return self, None
        return self._move(BreakerState.HALF_OPEN, now, f"cool-down of {self.settings.cool_down:g}s over")

    def force(self, state: BreakerState | None, now: datetime) -> tuple[Breaker, BreakerEvent | None]:
        """Held OPEN or CLOSED by an operator; None: automatic again, from CLOSED with a fresh window."""
        if state is BreakerState.HALF_OPEN:
            raise ValueError("a breaker is forced open or closed, never half-open")
        if state is None:
            if not self.forced and self.state is BreakerState.CLOSED:
                return self, None
            return self._move(BreakerState.CLOSED, now, "set to automatic by an operator", forced=False)
        if self.forced and self.state is state:
            return self, None
        return self._move(state, now, f"forced {state.value} by an operator", forced=True)

    def reconfigured(self, settings: BreakerSettings) -> Breaker:
        """With new settings; the state, its reason and the window's counts stay."""
        return replace(self, settings=settings)

    def _open(self, now: datetime, reason: str) -> tuple[Breaker, BreakerEvent]:
        return self._move(BreakerState.OPEN, now, reason)

    def _move(self, to: BreakerState, now: datetime, reason: str,
              forced: bool | None = None) -> tuple[Breaker, BreakerEvent]:
        forced = self.forced if forced is None else forced
        until = now + timedelta(seconds=self.settings.cool_down) if to is BreakerState.OPEN and not forced else None
        after = replace(self, state=to, forced=forced, reason=reason, changed_at=now, half_open_at=until,
                        probes_leased=0, probe_successes=0,
                        window=Window() if to is BreakerState.CLOSED else self.window)
        return after, BreakerEvent(self.queue, self.state, to, reason, forced, now)


def outcome(reason: Reason) -> bool | None:
    """What an event says of an attempt, for the breakers: True a success (Ack), False a failure
    (any Nack, retried or not, and a lapsed lease), None no outcome (a lease, a cancel...)."""
    return _OUTCOMES.get(reason)


_OUTCOMES = {Reason.ACK: True, Reason.NACK: False, Reason.EXPIRE: False}
