"""UpdateQueue: change a queue's controls (pause, resume, concurrency limits, rate limit) at run time."""

from __future__ import annotations

import logging

from broker.entities.queue import Limits
from broker.entities.queue_state import ControlsChange, QueueControls
from broker.usecases.ports import Clock, Notifier
from broker.usecases.queues.ports import QueueStore

log = logging.getLogger("broker.queues")


class UpdateQueue:
    """Applies a change to a queue's controls; every replica's claim obeys it at once. Bad input
    (InvalidArgument naming the field) changes nothing; asking for what is already so is a no-op.
    A paused queue's running jobs finish as usual and Enqueue still takes its jobs; a resume (or
    a limit or rate raised) wakes its long polls here, and through the store on every replica."""

    def __init__(self, store: QueueStore, clock: Clock, notifier: Notifier, limits: Limits) -> None:
        self._store, self._clock, self._notifier, self._limits = store, clock, notifier, limits

    async def __call__(self, name: str, change: ControlsChange) -> QueueControls:
        self._limits.check_queue_name(name, "name")
        controls, event = await self._store.update(name, change.check(), self._clock.now())
        if event is not None:
            log.info("queue %s: %s", name, ", ".join(event.changes),
                     extra={"queue": name, "changes": event.changes, "paused": controls.paused,
                            "concurrency_limit": controls.concurrency_limit,
                            "per_key_concurrency": controls.per_key_concurrency,
                            "rate_limit": controls.rate_limit, "rate_burst": controls.rate_burst})
            if event.opens:
                self._notifier.notify([name])
        return controls
