"""Waking long polls without a herd: a notification wakes one waiting call per queue, which
passes the wake-up on when its claim came back full or when it is gone before claiming."""

from __future__ import annotations

import asyncio

from broker.infra.pg.listen import LocalNotifier
from broker.usecases.lease import RECHECK_SECONDS, LeaseRequest
from tests.fakes import InMemoryJobStore
from tests.unit.conftest import World


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_notification_wakes_one_waiter_the_longest_waiting():
    notifier = LocalNotifier()
    waits = [asyncio.create_task(notifier.wait(["q"], 30)) for _ in range(4)]
    await settle()
    notifier.notify(["q"])
    await settle()
    assert [w.done() for w in waits] == [True, False, False, False]
    notifier.notify(["q", "other"])
    notifier.notify(["q"])
    await settle()
    assert [w.done() for w in waits] == [True, True, True, False]
    notifier.close()  # shutdown wakes every one
    await asyncio.wait_for(asyncio.gather(*waits), 1)
    assert notifier._waiters == {}


async def test_a_woken_waiter_that_is_cancelled_passes_the_wake_up_on():
    notifier = LocalNotifier()
    first = asyncio.create_task(notifier.wait(["q"], 30))
    second = asyncio.create_task(notifier.wait(["q"], 30))
    await settle()
    notifier.notify(["q"])
    first.cancel()  # its call went away before it could claim
    await settle()
    assert first.cancelled() and second.done()


class CountingStore(InMemoryJobStore):
    def __init__(self) -> None:
        super().__init__()
        self.claims = 0

    async def claim(self, *args, **kwargs):
        self.claims += 1
        return await super().claim(*args, **kwargs)


def long_poll(world: World, worker: str, max_jobs: int = 100):
    return asyncio.create_task(world.lease(LeaseRequest(("steady",), worker, max_jobs, wait=30.0)))


async def test_one_job_for_twenty_idle_long_polls_costs_one_claim():
    world = World(store=CountingStore(), notifier=LocalNotifier())
    polls = [long_poll(world, f"w{i}") for i in range(20)]
    await settle()
    before = world.store.claims  # each poll's first, empty claim
    (job_id,) = await world.add()
    await settle()
    assert world.store.claims == before + 1
    [done] = [p for p in polls if p.done()]
    assert [j.id for j in done.result()] == [job_id]
    world.notifier.close()
    await asyncio.gather(*polls)


async def test_a_burst_bigger_than_one_batch_reaches_every_waiting_poll():
    world = World(notifier=LocalNotifier())
    polls = [long_poll(world, f"w{i}") for i in range(3)]
    await settle()
    await world.add(count=250)  # one notification; each full batch passes it on
    # Sooner than their 0.5 s rechecks would find the jobs: the wake-up was passed on.
    leased = await asyncio.wait_for(asyncio.gather(*polls), RECHECK_SECONDS / 2)
    assert sorted(len(jobs) for jobs in leased) == [50, 100, 100]
