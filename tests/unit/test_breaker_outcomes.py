"""The breakers fed by the workers' calls (usecases/queues/breakers.py), with the fakes: an Ack
is a success, a Nack and a lapsed lease failures; a queue without a breaker never reaches the
breaker store's writes; the cool-down pass and a closing breaker wake the queue's long polls."""

from __future__ import annotations

import random

from broker.app.build import build
from broker.entities.breaker import BreakerState
from broker.entities.breaker_settings import BreakerChange, SettingsChange
from broker.entities.lease import LeaseRef
from broker.infra.settings import ObserveSettings, Settings
from broker.usecases.enqueue import JobSpec
from broker.usecases.lease import LeaseRequest
from broker.usecases.nack import NackItem
from broker.usecases.queues.parts import QueueParts
from tests.fakes.breaker_store import InMemoryBreakerStore
from tests.unit.conftest import PAGE_SECRET


class Spy(InMemoryBreakerStore):
    def __init__(self, jobs) -> None:
        super().__init__(jobs)
        self.steps: list[list[str]] = []

    async def step(self, queues, step, now):
        self.steps.append(list(queues))
        return await super().step(queues, step, now)


def _use(world, breakers):
    settings = Settings(limits=world.limits, queues=world.queues, observe=ObserveSettings(stats_cache=0))
    return build(settings, store=world.store, clock=world.clock, notifier=world.notifier, page_secret=PAGE_SECRET,
                 rng=random.Random(1), parts=QueueParts(breakers=breakers))


def ref(job) -> LeaseRef:
    return LeaseRef(job.id, job.lease_token)


async def _lease(use, queue, n):
    return await use.jobs.lease(LeaseRequest((queue,), "w", n))


async def test_outcomes_open_and_close_the_breaker_and_other_queues_cost_nothing(world):
    spy = Spy(world.store)
    use = _use(world, spy)
    await spy.change("guarded", BreakerChange(settings=SettingsChange(min_attempts=3, cool_down=10, probes=1)),
                     world.clock.now())
    await use.jobs.enqueue([JobSpec(queue=q, kind="k") for q in ("guarded",) * 4 + ("free",) * 2])
    free = await _lease(use, "free", 2)
    await use.jobs.ack([ref(free[0])])
    await use.jobs.nack([NackItem(ref(free[1]), "x")])
    assert spy.steps == []  # no breaker on "free": the store was never asked to change one

    taken = await _lease(use, "guarded", 3)
    await use.jobs.ack([ref(taken[0])])
    await use.jobs.nack([NackItem(ref(taken[1]), "x")])
    world.clock.advance(31)  # taken[2]'s lease lapses
    await use.reaper.run_once()
    b = await spy.get("guarded")
    assert b.state is BreakerState.OPEN and "2 of 3 attempts" in b.reason
    assert await _lease(use, "guarded", 5) == []

    world.clock.advance(10)
    world.notifier.notified.clear()
    assert await use.breakers.run_once() == 1 and world.notifier.notified == [["guarded"]]
    (probe,) = await _lease(use, "guarded", 5)
    await use.jobs.ack([ref(probe)])
    assert (await spy.get("guarded")).state is BreakerState.CLOSED
    assert len(await _lease(use, "guarded", 5)) == 2  # the rest (4 less the acked one and the probe)
