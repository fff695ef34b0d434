"""A queue's parts kept apart from its controls (broker_queues): its circuit breaker and its
run-time default retry policy, each in a store of its own; attached to the controls for reading."""

from __future__ import annotations

from dataclasses import dataclass, replace

from broker.entities.queue_state import QueueControls
from broker.usecases.queues.breaker_ports import BreakerStore
from broker.usecases.queues.retry_ports import RetryStore


@dataclass(frozen=True)
class QueueParts:
    breakers: BreakerStore | None = None
    retry: RetryStore | None = None

    async def attach(self, controls: QueueControls) -> QueueControls:
        name = controls.name
        breaker = await self.breakers.get(name) if self.breakers else None
        retry = await self.retry.get(name) if self.retry else None
        return replace(controls, breaker=breaker, retry=retry) if breaker or retry else controls

    async def attach_all(self, controls: list[QueueControls]) -> list[QueueControls]:
        """Every queue with controls, a breaker or a run-time retry policy, by name."""
        by_name = {c.name: c for c in controls}
        for b in await self.breakers.list_breakers() if self.breakers else ():
            by_name[b.queue] = replace(by_name.get(b.queue) or QueueControls(b.queue), breaker=b)
        for queue, r in (await self.retry.all() if self.retry else {}).items():
            by_name[queue] = replace(by_name.get(queue) or QueueControls(queue), retry=r)
        return [by_name[name] for name in sorted(by_name)]
