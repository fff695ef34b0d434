"""Waking long polls without a herd: a notification wakes one waiting call per queue, which
passes the wake-up on when its claim came back full or when it is gone before claiming.

The first checks are a contract: they run on LocalNotifier and on the unit tests' fake
(RecordingNotifier without a clock), so the fake cannot wake more waiters than the real one."""

from __future__ import annotations

import asyncio

import pytest

from broker.infra.pg.listen import LocalNotifier
from broker.usecases.lease import RECHECK_SECONDS, LeaseRequest
from tests.fakes import InMemoryJobStore, RecordingNotifier
from tests.unit.conftest import World


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


notifiers = pytest.mark.parametrize("make", [LocalNotifier, RecordingNotifier], ids=["real", "fake"])


@notifiers
async def test_a_notification_wakes_one_waiter_the_longest_waiting(make):
    notifier = make()
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
    assert notifier.closed


async def test_the_real_notifier_forgets_its_waiters_when_they_are_done():
    notifier = LocalNotifier()
    waits = [asyncio.create_task(notifier.wait(["q", "r"], 30)) for _ in range(2)]
    await settle()
    notifier.notify(["q"])
    notifier.close()
    assert await asyncio.gather(*waits) == [True, True]
    assert await notifier.wait(["q"], 0) is True  # closed: at once
    assert notifier._waiters == {}


async def test_a_wait_nobody_ends_says_so():
    assert await LocalNotifier().wait(["q"], 0) is False


@notifiers
async def test_a_woken_waiter_that_is_cancelled_passes_the_wake_up_on(make):
    notifier = make()
    first = asyncio.create_task(notifier.wait(["q"], 30))
    second = asyncio.create_task(notifier.wait(["q"], 30))
    await settle()
    notifier.notify(["q"])
    first.cancel()  # its call went away before it could claim
    await settle()
    assert first.cancelled() and second.done()


@notifiers
async def test_a_notification_wakes_only_waiters_of_its_queues(make):
    notifier = make()
    mine, other = (asyncio.create_task(notifier.wait(queues, 30)) for queues in (["q", "r"], ["s"]))
    await settle()
    notifier.notify(["r"])
    await settle()
    assert mine.done() and not other.done()
    notifier.close()
    await asyncio.wait_for(other, 1)


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
