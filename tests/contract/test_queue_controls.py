"""Queue controls, obeyed by the claim of both stores: a paused queue hands out nothing (its
running jobs finish, Enqueue still works), a queue's concurrency limit caps its RUNNING jobs.
A held-back job simply waits: nothing fails it. Every change is an event."""

from __future__ import annotations

import pytest

from broker.entities.job import JobState
from broker.entities.queue_state import ControlsChange, QueueControls
from broker.infra.pg.queues import PgQueueStore
from broker.infra.pg.store import PgJobStore
from tests.contract.helpers import add, ref, seconds
from tests.fakes.queue_store import InMemoryQueueStore

PAUSE, RESUME = ControlsChange(paused=True), ControlsChange(paused=False)


@pytest.fixture
def queues(store, request):
    """The queue store that goes with the job store under test."""
    if isinstance(store, PgJobStore):
        return PgQueueStore(request.getfixturevalue("db"))
    return InMemoryQueueStore(store)


async def test_a_queue_nobody_configured_has_the_default_controls(queues, queue):
    assert await queues.get(queue) == QueueControls(queue)


async def test_a_paused_queue_hands_out_nothing_and_its_jobs_wait_until_resumed(store, queues, queue, t0):
    other = queue + "-b"
    (running,) = await add(store, queue, t0)
    (leased,), _ = await store.claim([queue], "w1", 1, None, t0)
    await queues.update(queue, PAUSE, t0)
    ids = await add(store, queue, t0, count=3)  # Enqueue still works
    (elsewhere,) = await add(store, other, t0)

    jobs, events = await store.claim([queue, other], "w1", 10, None, seconds(t0, 1))
    assert [j.id for j in jobs] == [elsewhere] and len(events) == 1
    assert (await store.claim([queue], "w1", 10, None, seconds(t0, 2)))[0] == []
    calls, _ = await store.complete([ref(leased)], seconds(t0, 3))  # a running job finishes
    assert calls[0].changed and (await store.get(running)).state is JobState.SUCCEEDED
    assert [(await store.get(i)).state for i in ids] == [JobState.PENDING] * 3

    await queues.update(queue, RESUME, seconds(t0, 4))
    jobs, _ = await store.claim([queue], "w1", 10, None, seconds(t0, 5))
    assert sorted(j.id for j in jobs) == sorted(ids)


async def test_a_concurrency_limit_caps_the_running_jobs_of_a_queue(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(concurrency_limit=2), t0)
    await add(store, queue, t0, count=5)
    other = queue + "-b"
    (elsewhere,) = await add(store, other, t0)

    first, _ = await store.claim([queue, other], "w1", 10, None, t0)
    assert len([j for j in first if j.queue == queue]) == 2 and elsewhere in [j.id for j in first]
    assert (await store.claim([queue], "w2", 10, None, t0))[0] == []
    await store.complete([ref(first[0] if first[0].queue == queue else first[1])], seconds(t0, 1))
    again, _ = await store.claim([queue], "w2", 10, None, seconds(t0, 1))
    assert len(again) == 1

    await queues.update(queue, ControlsChange(concurrency_limit=0), seconds(t0, 2))  # 0: no limit
    rest, _ = await store.claim([queue], "w2", 10, None, seconds(t0, 3))
    assert len(rest) == 2


async def test_a_paused_queue_with_a_limit_hands_out_nothing(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(paused=True, concurrency_limit=3), t0)
    await add(store, queue, t0, count=2)
    assert (await store.claim([queue], "w1", 10, None, t0))[0] == []
    await queues.update(queue, RESUME, t0)
    assert len((await store.claim([queue], "w1", 10, None, t0))[0]) == 2


async def test_every_change_is_an_event_and_a_repeat_changes_nothing(queues, queue, t0):
    controls, event = await queues.update(queue, PAUSE, t0)
    assert controls.paused and event.changes == ("paused",) and not event.opens
    again, none = await queues.update(queue, PAUSE, seconds(t0, 1))
    assert none is None and again.updated_at == controls.updated_at
    _, limit = await queues.update(queue, ControlsChange(concurrency_limit=4), seconds(t0, 2))
    assert limit.changes == ("concurrency_limit",) and limit.after.concurrency_limit == 4
    _, resumed = await queues.update(queue, ControlsChange(paused=False, concurrency_limit=5), seconds(t0, 3))
    assert resumed.changes == ("resumed", "concurrency_limit") and resumed.opens
    assert queue in [q.name for q in await queues.list_queues()]
    assert await queues.get(queue) == QueueControls(queue, False, 5, seconds(t0, 3))
