"""JobStore.claim_for (one claim for several Lease calls) and release, on both stores: the jobs
in lease order, each leased to its slot's caller (worker id and lease duration in the row and in
the LEASE event, a token of its own), at most the sum of the limits, and the flow controls held
as for one caller's claim. A release puts a held job back at once, its attempt given back."""

from __future__ import annotations

import pytest

from broker.entities.job import JobState, Reason
from broker.entities.queue_state import ControlsChange
from broker.infra.pg.breakers import PgBreakerStore
from broker.infra.pg.queues import PgQueueStore
from broker.infra.pg.store import PgJobStore
from broker.usecases.claim_coalesce import split
from broker.usecases.ports import Taker
from tests.contract.helpers import add, new_job, ref, seconds
from tests.contract.test_breakers import _open
from tests.fakes.breaker_store import InMemoryBreakerStore
from tests.fakes.queue_store import InMemoryQueueStore


@pytest.fixture
def queues(store, request):
    if isinstance(store, PgJobStore):
        return PgQueueStore(request.getfixturevalue("db"))
    return InMemoryQueueStore(store)


@pytest.fixture
def breakers(store, request):
    if isinstance(store, PgJobStore):
        return PgBreakerStore(request.getfixturevalue("db"), store.breaker_names)
    return InMemoryBreakerStore(store)


async def test_each_job_goes_to_its_slot_in_lease_order(store, queue, t0):
    kinds = ["p5", "urgent", "old", "older", "p1"]
    specs = [new_job(queue, seconds(t0, -10), priority=5, kind="p5"),
             new_job(queue, seconds(t0, -1), priority=-3, kind="urgent"),
             new_job(queue, seconds(t0, -20), kind="old"), new_job(queue, seconds(t0, -30), kind="older"),
             new_job(queue, seconds(t0, -40), priority=1, kind="p1")]
    await store.enqueue(specs, seconds(t0, -60))
    takers = [Taker("w-a", 2, 10.0), Taker("w-b", 1, None), Taker("w-c", 3, 60.0)]

    jobs, events = await store.claim_for([queue], takers, t0)

    assert sorted(j.kind for j in jobs) == sorted(kinds)
    assert [j.kind for j in jobs] == ["urgent", "older", "old", "p1", "p5"]
    assert [j.worker_id for j in jobs] == ["w-a", "w-a", "w-b", "w-c", "w-c"]
    assert [(j.lease_expires_at - t0).total_seconds() for j in jobs] == [10.0, 10.0, 30.0, 60.0, 60.0]
    assert len({j.lease_token for j in jobs}) == 5
    assert {(e.job_id, e.worker_id, e.reason) for e in events} == {(j.id, j.worker_id, Reason.LEASE) for j in jobs}
    shares = split(takers, jobs, events)
    assert [[j.kind for j in share] for share, _ in shares] == [["urgent", "older"], ["old"], ["p1", "p5"]]
    for stored in [await store.get(j.id) for j in jobs]:
        assert stored.state is JobState.RUNNING and stored.worker_id in ("w-a", "w-b", "w-c")
    assert [(await store.get(j.id)).worker_id for j in jobs] == [j.worker_id for j in jobs]


async def test_at_most_the_sum_of_the_limits_and_nothing_twice(store, queue, t0):
    ids = await add(store, queue, t0, count=7)
    takers = [Taker("w1", 2), Taker("w2", 3)]

    first, _ = await store.claim_for([queue], takers, t0)
    second, _ = await store.claim_for([queue], takers, t0)

    assert [len(first), len(second)] == [5, 2]
    assert sorted(j.id for j in first + second) == sorted(ids)
    assert [j.worker_id for j in second] == ["w1", "w1"]  # fewer than asked: the first caller first


async def test_a_concurrency_limit_and_a_rate_hold_for_the_whole_claim(store, queues, queue, t0):
    limited, rated = queue, queue + "-rate"
    await queues.update(limited, ControlsChange(concurrency_limit=3), t0)
    await queues.update(rated, ControlsChange(rate_limit=1.0, rate_burst=2), t0)
    await add(store, limited, t0, count=6)
    await add(store, rated, t0, count=6)
    takers = [Taker(f"w{i}", 2) for i in range(6)]

    jobs, _ = await store.claim_for([limited, rated], takers, t0)

    assert sorted(j.queue for j in jobs) == [limited] * 3 + [rated] * 2
    assert [j.worker_id for j in jobs] == ["w0", "w0", "w1", "w1", "w2"]  # slots filled in order
    assert (await store.claim_for([limited, rated], takers, t0))[0] == []


async def test_a_per_key_limit_holds_for_the_whole_claim(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(per_key_concurrency=1), t0)
    await add(store, queue, t0, count=3, concurrency_key="a")
    await add(store, queue, t0, count=3, concurrency_key="b")

    jobs, _ = await store.claim_for([queue], [Taker("w1", 1), Taker("w2", 1), Taker("w3", 4)], t0)

    assert sorted(j.concurrency_key for j in jobs) == ["a", "b"]


async def test_a_half_open_breaker_lets_only_its_probes_through(store, breakers, queue, t0):
    await add(store, queue, t0, count=5)
    await _open(breakers, queue, t0)
    await breakers.cool_down(seconds(t0, 10), 10)

    jobs, _ = await store.claim_for([queue], [Taker("w1", 1), Taker("w2", 5)], seconds(t0, 11))

    assert [j.worker_id for j in jobs] == ["w1", "w2"]  # two probes (TIGHT), one slot each
    assert (await breakers.get(queue)).probes_leased == 2

    await store.release([ref(jobs[1])], seconds(t0, 12))  # a probe leased for a call that was gone

    assert (await breakers.get(queue)).probes_leased == 1  # given back: the breaker can still close
    (again,), _ = await store.claim([queue], "w3", 5, None, seconds(t0, 13))
    assert (await breakers.get(queue)).probes_leased == 2


async def test_a_paused_queue_gives_nothing(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(paused=True), t0)
    await add(store, queue, t0, count=2)
    assert (await store.claim_for([queue], [Taker("w1", 1), Taker("w2", 1)], t0))[0] == []


async def test_release_puts_a_held_job_back_at_once_and_a_stale_token_changes_nothing(store, queue, t0):
    await add(store, queue, t0, count=2)
    jobs, _ = await store.claim_for([queue], [Taker("w1", 1), Taker("w2", 1)], t0)
    stale = ref(jobs[1], "00000000-0000-0000-0000-000000000000")

    events = await store.release([ref(jobs[0]), stale], seconds(t0, 1))

    assert [(e.job_id, e.from_state, e.to_state, e.reason, e.attempt, e.worker_id) for e in events] == [
        (jobs[0].id, JobState.RUNNING, JobState.PENDING, Reason.RELEASE, 1, "w1")]
    back = await store.get(jobs[0].id)
    assert (back.state, back.attempt, back.lease_token, back.run_at) == (JobState.PENDING, 0, None, t0)
    assert (await store.get(jobs[1].id)).state is JobState.RUNNING
    again, _ = await store.claim([queue], "w3", 5, None, seconds(t0, 2))
    assert [(j.id, j.attempt) for j in again] == [(jobs[0].id, 1)]
    assert await store.release([ref(jobs[0])], seconds(t0, 3)) == []  # its old token holds nothing now
