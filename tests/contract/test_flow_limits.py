"""The per-key concurrency limit and the rate limit, obeyed by the claim of both stores: a key
at its limit is passed over (the claim takes the next eligible job), jobs without a key are not
limited by it; a rate-limited queue leases at most burst + rate * t jobs, refilled by the clock
the claim is given. A held-back job simply waits."""

from __future__ import annotations

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState
from broker.entities.queue_state import ControlsChange, QueueControls
from broker.infra.pg.queues import PgQueueStore
from broker.infra.pg.store import PgJobStore
from tests.contract.helpers import add, ref, seconds
from tests.fakes.queue_store import InMemoryQueueStore


@pytest.fixture
def queues(store, request):
    if isinstance(store, PgJobStore):
        return PgQueueStore(request.getfixturevalue("db"))
    return InMemoryQueueStore(store)


def keys_of(jobs, store_jobs) -> list[str | None]:
    return sorted((store_jobs[j.id] for j in jobs), key=str)


async def test_a_key_at_its_limit_is_passed_over_and_other_keys_and_keyless_jobs_proceed(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(per_key_concurrency=1), t0)
    a = await add(store, queue, t0, count=4, concurrency_key="a")  # at the head of the queue
    b = await add(store, queue, seconds(t0, 1), count=2, concurrency_key="b", run_at=t0)
    (free,) = await add(store, queue, seconds(t0, 2), run_at=seconds(t0, 1))
    now = seconds(t0, 3)

    first, _ = await store.claim([queue], "w1", 10, None, now)
    assert sorted(j.concurrency_key or "" for j in first) == ["", "a", "b"] and free in [j.id for j in first]
    assert (await store.claim([queue], "w2", 10, None, now))[0] == []  # both keys busy, the rest wait
    assert sorted([(await store.get(i)).state.value for i in a + b]) == ["pending"] * 4 + ["running"] * 2

    await store.complete([ref(j) for j in first if j.concurrency_key == "a"], seconds(now, 1))
    again, _ = await store.claim([queue], "w2", 10, None, seconds(now, 1))
    assert [j.concurrency_key for j in again] == ["a"]


async def test_a_waiting_key_does_not_stop_a_batch_of_one(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(per_key_concurrency=2), t0)
    await add(store, queue, t0, count=5, concurrency_key="a")
    await add(store, queue, seconds(t0, 1), concurrency_key="c", run_at=seconds(t0, 1))
    taken = [j.concurrency_key for _ in range(4) for j in (await store.claim([queue], "w", 1, None, seconds(t0, 2)))[0]]
    assert taken == ["a", "a", "c"]  # the third of key a waits; c's job is the next eligible


async def test_the_per_key_limit_and_the_queue_limit_hold_together(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(concurrency_limit=3, per_key_concurrency=2), t0)
    await add(store, queue, t0, count=3, concurrency_key="a")
    await add(store, queue, t0, count=3, concurrency_key="b")
    jobs, _ = await store.claim([queue], "w", 10, None, t0)
    assert len(jobs) == 3
    assert max(sum(j.concurrency_key == k for j in jobs) for k in "ab") == 2
    assert (await store.claim([queue], "w", 10, None, t0))[0] == []


async def test_removing_the_per_key_limit_lets_the_waiting_jobs_through(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(per_key_concurrency=1), t0)
    await add(store, queue, t0, count=3, concurrency_key="a")
    assert len((await store.claim([queue], "w", 10, None, t0))[0]) == 1
    _, event = await queues.update(queue, ControlsChange(per_key_concurrency=0), t0)
    assert event.changes == ("per_key_concurrency",) and event.opens
    assert len((await store.claim([queue], "w", 10, None, t0))[0]) == 2


async def test_a_rate_limit_leases_at_most_burst_plus_rate_times_the_time(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(rate_limit=2.0, rate_burst=5), t0)
    await add(store, queue, t0, count=40)
    leased = []
    for tenth in range(0, 51):  # 5 seconds of claims, every 0.1 s of the claim's clock
        now = seconds(t0, tenth / 10)
        jobs, _ = await store.claim([queue], "w", 10, None, now)
        leased += jobs
        assert len(leased) <= 5 + 2.0 * (tenth / 10)
    assert len(leased) == 5 + 10  # the burst at once, then 2 per second


async def test_a_quiet_spell_refills_the_bucket_only_up_to_its_burst(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(rate_limit=1.0, rate_burst=3), t0)
    await add(store, queue, t0, count=20)
    assert len((await store.claim([queue], "w", 10, None, t0))[0]) == 3
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 0.5)))[0] == []
    assert len((await store.claim([queue], "w", 10, None, seconds(t0, 3600)))[0]) == 3
    # A clock behind the last claim (another replica's) refills nothing.
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 3599)))[0] == []


async def test_a_rate_and_a_concurrency_limit_each_narrow_the_room(store, queues, queue, t0):
    await queues.update(queue, ControlsChange(concurrency_limit=2, rate_limit=10.0, rate_burst=10), t0)
    await add(store, queue, t0, count=6)
    first, _ = await store.claim([queue], "w", 10, None, t0)
    assert len(first) == 2  # the limit: the bucket keeps the rest of its tokens
    await store.complete([ref(j) for j in first], t0)
    assert len((await store.claim([queue], "w", 10, None, t0))[0]) == 2


async def test_rate_changes_are_events_and_a_new_rate_starts_with_a_full_bucket(store, queues, queue, t0):
    controls, event = await queues.update(queue, ControlsChange(rate_limit=2.5), t0)
    assert (controls.rate_limit, controls.rate_burst) == (2.5, 3)  # a second's worth by default
    assert event.changes == ("rate_limit",) and not event.opens
    _, raised = await queues.update(queue, ControlsChange(rate_burst=6), seconds(t0, 1))
    assert raised.opens
    await add(store, queue, t0, count=10)
    assert len((await store.claim([queue], "w", 10, None, seconds(t0, 1)))[0]) == 6
    cleared, _ = await queues.update(queue, ControlsChange(rate_limit=0), seconds(t0, 2))
    assert (cleared.rate_limit, cleared.rate_burst) == (None, None)
    assert len((await store.claim([queue], "w", 10, None, seconds(t0, 2)))[0]) == 4
    assert await queues.get(queue) == QueueControls(queue, updated_at=seconds(t0, 2))


@pytest.mark.parametrize("change, field", [
    (ControlsChange(rate_burst=4), "rate_burst"),  # a burst without a rate
    (ControlsChange(rate_limit=3.0, rate_burst=0), "rate_burst"),
])
async def test_a_change_that_leaves_a_burst_without_a_rate_changes_nothing(queues, queue, t0, change, field):
    with pytest.raises(InvalidArgument) as caught:
        await queues.update(queue, change.check(), t0)
    assert caught.value.field == field
    assert queue not in [q.name for q in await queues.list_queues()]
