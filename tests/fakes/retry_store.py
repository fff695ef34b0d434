"""The RetryStore in memory (tests/contract/test_queue_retry.py holds it to PgRetryStore)."""

from __future__ import annotations

from datetime import datetime

from broker.entities.queue_retry import RetryDefaults
from broker.usecases.queues.retry_ports import RetryStep


class InMemoryRetryStore:
    def __init__(self) -> None:
        self.defaults: dict[str, RetryDefaults] = {}

    async def all(self) -> dict[str, RetryDefaults]:
        return dict(self.defaults)

    async def get(self, queue: str) -> RetryDefaults | None:
        return self.defaults.get(queue)

    async def change(self, queue: str, step: RetryStep, now: datetime) -> RetryDefaults | None:
        after = step(self.defaults.get(queue))
        if after is None:
            self.defaults.pop(queue, None)
        else:
            self.defaults[queue] = after
        return after
