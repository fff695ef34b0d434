"""UpdateQueue: change a queue's controls (pause, resume, concurrency limit) at run time."""

from __future__ import annotations

import logging

from dataclasses import replace

from broker.entities.breaker_settings import BreakerChange
from broker.entities.queue import Limits
from broker.entities.queue_state import ControlsChange, QueueControls
from broker.usecases.ports import Clock, Notifier
from broker.usecases.queues.breaker_ports import BreakerStore
from broker.usecases.queues.breakers import announce
from broker.usecases.queues.ports import QueueStore

log = logging.getLogger("broker.queues")


class UpdateQueue:
    """Applies a change to a queue's controls; every replica's claim obeys it at once. Bad input
    (InvalidArgument naming the field) changes nothing; asking for what is already so is a no-op.
    A paused queue's running jobs finish as usual and Enqueue still takes its jobs; a resume (or
    a limit raised) wakes its long polls here, and through the store on every replica."""

    def __init__(self, store: QueueStore, clock: Clock, notifier: Notifier, limits: Limits,
                 breakers: BreakerStore | None = None) -> None:
        self._store, self._clock, self._notifier, self._limits = store, clock, notifier, limits
        self._breakers = breakers

    async def __call__(self, name: str, change: ControlsChange,
                       breaker: BreakerChange = BreakerChange()) -> QueueControls:
        """Every part of the change is checked before any is made."""
        self._limits.check_queue_name(name, "name")
        change.check(), breaker.check()
        controls = await self._controls(name, change)
        if self._breakers is None:
            return controls
        if breaker.empty:
            return replace(controls, breaker=await self._breakers.get(name))
        after, event = await self._breakers.change(name, breaker, self._clock.now())
        announce([event] if event else [], self._notifier)
        return replace(controls, breaker=after)

    async def _controls(self, name: str, change: ControlsChange) -> QueueControls:
        if change == ControlsChange() and self._breakers is not None:  # the breaker alone
            return await self._store.get(name)
        controls, event = await self._store.update(name, change, self._clock.now())
        if event is not None:
            log.info("queue %s: %s", name, ", ".join(event.changes),
                     extra={"queue": name, "changes": event.changes, "paused": controls.paused,
                            "concurrency_limit": controls.concurrency_limit})
            if event.opens:
                self._notifier.notify([name])
        return controls
