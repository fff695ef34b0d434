"""UpdateQueue: change a queue's controls (pause, resume, concurrency limits, rate limit), its circuit breaker
and its default retry policy at run time."""

from __future__ import annotations

import logging

from broker.entities.breaker_settings import BreakerChange
from broker.entities.queue import Limits, QueueConfig
from broker.entities.queue_retry import RetryChange
from broker.entities.queue_state import ControlsChange, QueueControls
from broker.usecases.ports import Clock, Notifier
from broker.usecases.queues.breakers import announce
from broker.usecases.queues.parts import QueueParts
from broker.usecases.queues.ports import QueueStore

log = logging.getLogger("broker.queues")


class UpdateQueue:
    """Applies a change to a queue; every replica's claim obeys it at once. Bad input
    (InvalidArgument naming the field) changes nothing: every part is checked before any is
    made; asking for what is already so is a no-op. A paused queue's running jobs finish as
    usual and Enqueue still takes its jobs; a resume (or a limit or rate raised, a breaker closed) wakes
    its long polls here, and through the store on every replica. A retry policy applies to the
    jobs enqueued after it (every replica's Enqueue within about a second)."""

    def __init__(self, store: QueueStore, clock: Clock, notifier: Notifier, limits: Limits,
                 parts: QueueParts = QueueParts(), queues: QueueConfig = QueueConfig()) -> None:
        self._store, self._clock, self._notifier, self._limits = store, clock, notifier, limits
        self._parts, self._queues = parts, queues

    async def __call__(self, name: str, change: ControlsChange, breaker: BreakerChange = BreakerChange(),
                       retry: RetryChange = RetryChange()) -> QueueControls:
        self._limits.check_queue_name(name, "name")
        change.check(), breaker.check(), retry.check(self._limits.max_attempts)
        base, now = self._queues.for_queue(name), self._clock.now()
        if not retry.empty and self._parts.retry is not None:
            # First: its check against the policy as it is under the lock is the one that can still fail.
            await self._parts.retry.change(name, lambda current: retry.apply(current, base, now), now)
        controls = await self._controls(name, change)
        if not breaker.empty and self._parts.breakers is not None:
            _, event = await self._parts.breakers.change(name, breaker, now)
            announce([event] if event else [], self._notifier)
        return await self._parts.attach(controls)

    async def _controls(self, name: str, change: ControlsChange) -> QueueControls:
        if change == ControlsChange():  # the breaker or the retry policy alone
            return await self._store.get(name)
        controls, event = await self._store.update(name, change, self._clock.now())
        if event is not None:
            log.info("queue %s: %s", name, ", ".join(event.changes),
                     extra={"queue": name, "changes": event.changes, "paused": controls.paused,
                            "concurrency_limit": controls.concurrency_limit,
                            "per_key_concurrency": controls.per_key_concurrency,
                            "rate_limit": controls.rate_limit, "rate_burst": controls.rate_burst})
            if event.opens:
                self._notifier.notify([name])
        return controls
