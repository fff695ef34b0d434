"""The port of the queues' run-time default retry policies."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from broker.entities.queue_retry import RetryDefaults

# The run-time defaults after a change, from those there are (entities.queue_retry.RetryChange.apply).
RetryStep = Callable[[RetryDefaults | None], RetryDefaults | None]


class RetryStore(Protocol):
    """Durable home of the queues' run-time default retry policies, shared by every replica."""

    async def all(self) -> dict[str, RetryDefaults]:
        """Every queue's, as read at most about a second ago (Enqueue asks at every call)."""

    async def get(self, queue: str) -> RetryDefaults | None: ...

    async def change(self, queue: str, step: RetryStep, now: datetime) -> RetryDefaults | None:
        """Apply `step` to the queue's under its lock (it may raise InvalidArgument: nothing
        changes); None removes them."""
