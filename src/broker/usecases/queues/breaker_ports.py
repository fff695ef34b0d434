"""The port the breaker interactors need: where the queues' circuit breakers live."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from broker.entities.breaker import Breaker, BreakerEvent
from broker.entities.breaker_settings import BreakerChange

# One breaker's next state and the event of its change (entities.breaker's methods).
Step = Callable[[Breaker], tuple[Breaker, BreakerEvent | None]]


class BreakerStore(Protocol):
    """Durable home of the queues' breakers and of their event log, shared by every replica (the
    job store's claim leaves the queues whose breaker holds back alone, and leases a HALF_OPEN
    breaker's probes under its lock). Every change is made under the breaker's row lock."""

    async def configured(self) -> frozenset[str]:
        """The queues that have a breaker, as read at most about a second ago (outcomes on other
        queues are not worth a round trip)."""

    async def get(self, queue: str) -> Breaker | None: ...

    async def list_breakers(self) -> list[Breaker]:
        """Every breaker, by queue name."""

    async def change(self, queue: str, change: BreakerChange,
                     now: datetime) -> tuple[Breaker | None, BreakerEvent | None]:
        """Apply a checked change (BreakerChange.apply on the breaker as it is under its lock);
        its state's change, if any, is logged."""

    async def step(self, queues: Sequence[str], step: Step, now: datetime) -> list[BreakerEvent]:
        """Apply `step` to the breakers of `queues` (those that have one), each under its lock;
        log and return the changes of state."""

    async def cool_down(self, now: datetime, limit: int) -> list[BreakerEvent]:
        """OPEN breakers whose cool-down is over go HALF_OPEN (Breaker.cool_down); the changes."""
