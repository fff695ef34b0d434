"""DeliverCallbacks: the broker's own worker for its internal queue of deliveries."""

from __future__ import annotations

import asyncio
import logging
import random

from broker.entities.callback import CALLBACK_QUEUE, SUBSCRIPTION_HEADER, sign
from broker.entities.job import Job, storable
from broker.entities.lease import Failure, LeaseRef
from broker.usecases.callbacks.define import DeliveryPolicy
from broker.usecases.callbacks.ports import DeliveryListener, Reply, Sender, SubscriptionStore
from broker.usecases.nack import decider
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier

log = logging.getLogger("broker.callbacks")
# A delivery's lease outlasts its request by this much (the time to record the outcome); a
# broker that dies mid-delivery leaves a lease that lapses, and the reaper retries it.
LEASE_MARGIN = 5.0
MAX_ERROR = 500


class DeliverCallbacks:
    """Leases deliveries like any worker (fenced, the reaper retrying those whose broker died),
    sends each in a task of its own (at most `policy.concurrency` at once, so a slow receiver
    holds one slot, never the moves of jobs), then acks a 2xx and nacks anything else under the
    subscription's retry policy. A refused target and a deleted subscription fail for good."""

    def __init__(self, store: JobStore, subscriptions: SubscriptionStore, sender: Sender, clock: Clock,
                 notifier: Notifier, events: EventSink, policy: DeliveryPolicy, worker_id: str,
                 rng: random.Random | None = None, listener: DeliveryListener | None = None) -> None:
        self._store, self._subscriptions, self._sender = store, subscriptions, sender
        self._clock, self._notifier, self._events, self._policy = clock, notifier, events, policy
        self._worker_id, self._rng, self._listener = worker_id, rng, listener
        self._tasks: set[asyncio.Task] = set()

    async def run_once(self, wait: float = 0.0) -> int:
        """Lease as many deliveries as there are free slots and start them; returns how many.
        With nothing to do, waits up to `wait` seconds for a slot or a new delivery."""
        free = self._policy.concurrency - len(self._tasks)
        if free <= 0:
            if wait > 0:
                await asyncio.wait(set(self._tasks), timeout=wait, return_when=asyncio.FIRST_COMPLETED)
            return 0
        jobs, events = await self._store.claim([CALLBACK_QUEUE], self._worker_id, free,
                                               self._policy.timeout + LEASE_MARGIN, self._clock.now())
        self._events.record(events)
        for job in jobs:
            task = asyncio.create_task(self._run(job), name=f"callback {job.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not jobs and wait > 0:
            await self._notifier.wait([CALLBACK_QUEUE], wait)
        return len(jobs)

    async def drain(self) -> None:
        """Wait for the deliveries under way (tests; a stop cancels them instead)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self, grace: float = 0.0) -> None:
        """Let the deliveries under way finish for up to `grace` seconds, then cancel the rest:
        their leases lapse and another pass (here after a restart, or another replica) retries them."""
        if self._tasks and grace > 0:
            await asyncio.wait(set(self._tasks), timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _run(self, job: Job) -> None:
        try:
            await self.settle(job, await self.send(job))
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the lease lapses and the reaper retries the delivery
            log.exception("callback delivery %s failed", job.id)

    async def send(self, job: Job) -> Reply:
        """One attempt of a delivery, signed with the subscription's secrets as they are now."""
        name = (job.headers or {}).get(SUBSCRIPTION_HEADER, "")
        subscription = await self._subscriptions.get(name)
        if subscription is None:
            return Reply(None, f"subscription {name!r} no longer exists", refused=True)
        headers = dict(sign(subscription.secrets, job.id, int(self._clock.now().timestamp()), job.payload))
        headers.update({"content-type": "application/json", "user-agent": "broker-callbacks/1"})
        return await self._sender.post(subscription.url, job.payload, headers, self._policy.timeout)

    async def settle(self, job: Job, reply: Reply) -> None:
        """Ack a 2xx (the status kept as the delivery's result), nack anything else."""
        ref, now = LeaseRef(job.id, job.lease_token or ""), self._clock.now()
        if reply.ok:
            _, events = await self._store.complete([ref], now, [f"HTTP {reply.status}".encode()])
        else:
            error = f"HTTP {reply.status}: {reply.detail}" if reply.status is not None else reply.detail
            failure = Failure(storable(error[:MAX_ERROR]) or "failed", permanent=reply.refused)
            _, events = await self._store.fail([(ref, failure)], now, decider(now, self._rng))
        self._events.record(events)
        if self._listener is not None:
            outcome = "delivered" if reply.ok else "refused" if reply.refused else "failed"
            self._listener.attempted((job.headers or {}).get(SUBSCRIPTION_HEADER, ""), outcome)
        log.info("callback %s: %s", job.id, f"HTTP {reply.status}" if reply.status else reply.detail,
                 extra={"job_id": job.id, "event": job.kind, "status": reply.status})
