"""Circuit breakers, obeyed by the claim of both stores: a queue whose breaker is open hands out
nothing (its jobs wait, nothing fails them), a half-open one exactly `probes` jobs, under a
concurrency limit no more than its room (and under a per-key limit or a rate, no more than they
allow); outcomes open and close it; every change of state is
an event."""

from __future__ import annotations

import asyncio

import pytest

from broker.entities.breaker import BreakerSettings, BreakerState
from broker.entities.breaker_settings import BreakerChange, Force, SettingsChange
from broker.entities.job import JobState
from broker.entities.queue_state import ControlsChange
from broker.infra.pg.breakers import PgBreakerStore
from broker.infra.pg.queues import PgQueueStore
from broker.infra.pg.store import PgJobStore
from tests.contract.helpers import add, postgres_only, seconds
from tests.fakes.breaker_store import InMemoryBreakerStore
from tests.fakes.queue_store import InMemoryQueueStore

C, O, H = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
TIGHT = SettingsChange(window=60, min_attempts=2, failure_rate=0.5, cool_down=10, probes=2)


@pytest.fixture
def breakers(store, request):
    if isinstance(store, PgJobStore):
        return PgBreakerStore(request.getfixturevalue("db"), store.breaker_names)
    return InMemoryBreakerStore(store)


@pytest.fixture
def queues(store, request):
    if isinstance(store, PgJobStore):
        return PgQueueStore(request.getfixturevalue("db"))
    return InMemoryQueueStore(store)


async def _open(breakers, queue, t0):
    await breakers.change(queue, BreakerChange(settings=TIGHT), t0)
    events = await breakers.step([queue], lambda b: b.record(0, 2, t0), t0)
    assert [(e.from_state, e.to_state) for e in events] == [(C, O)]


async def test_a_breaker_is_made_read_listed_and_removed(breakers, queue, t0):
    assert await breakers.get(queue) is None
    made, event = await breakers.change(queue, BreakerChange(settings=SettingsChange(probes=4)), t0)
    assert event is None and made.settings == BreakerSettings(probes=4) and made.state is C
    assert await breakers.get(queue) == made and queue in await breakers.configured()
    assert queue in [b.queue for b in await breakers.list_breakers()]
    gone, event = await breakers.change(queue, BreakerChange(remove=True), t0)
    assert gone is None and event is None and await breakers.get(queue) is None


async def test_an_open_breaker_holds_the_queue_back_and_its_jobs_wait(store, breakers, queue, t0):
    other = queue + "-b"
    ids = await add(store, queue, t0, count=3)
    (elsewhere,) = await add(store, other, t0)
    await _open(breakers, queue, t0)
    jobs, _ = await store.claim([queue, other], "w", 10, None, seconds(t0, 1))
    assert [j.id for j in jobs] == [elsewhere]
    assert [(await store.get(i)).state for i in ids] == [JobState.PENDING] * 3


async def test_half_open_lets_exactly_the_probes_through_and_their_success_closes_it(store, breakers, queue, t0):
    await add(store, queue, t0, count=5)
    await _open(breakers, queue, t0)
    assert await breakers.cool_down(seconds(t0, 9), 10) == []
    (event,) = await breakers.cool_down(seconds(t0, 10), 10)
    assert (event.from_state, event.to_state) == (O, H)
    first, _ = await store.claim([queue], "w", 1, None, seconds(t0, 11))
    second, _ = await store.claim([queue], "w", 10, None, seconds(t0, 11))
    assert len(first) == 1 and len(second) == 1  # two probes in all
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 12)))[0] == []
    assert (await breakers.get(queue)).probes_leased == 2
    assert await breakers.step([queue], lambda b: b.record(1, 0, seconds(t0, 13)), seconds(t0, 13)) == []
    (closed,) = await breakers.step([queue], lambda b: b.record(1, 0, seconds(t0, 14)), seconds(t0, 14))
    assert closed.to_state is C
    assert len((await store.claim([queue], "w", 10, None, seconds(t0, 15)))[0]) == 3


async def test_a_failed_probe_opens_it_again(store, breakers, queue, t0):
    await add(store, queue, t0, count=2)
    await _open(breakers, queue, t0)
    await breakers.cool_down(seconds(t0, 10), 10)
    (probe,), _ = await store.claim([queue], "w", 1, None, seconds(t0, 11))
    (event,) = await breakers.step([queue], lambda b: b.record(0, 1, seconds(t0, 12)), seconds(t0, 12))
    assert (event.to_state, event.reason) == (O, "a probe failed")
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 13)))[0] == []


async def test_probes_obey_a_concurrency_limit_and_a_pause(store, breakers, queues, queue, t0):
    await add(store, queue, t0, count=4)
    await queues.update(queue, ControlsChange(concurrency_limit=1), t0)
    await _open(breakers, queue, t0)
    await breakers.cool_down(seconds(t0, 10), 10)
    await queues.update(queue, ControlsChange(paused=True), t0)
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 11)))[0] == []
    await queues.update(queue, ControlsChange(paused=False), t0)
    jobs, _ = await store.claim([queue], "w", 10, None, seconds(t0, 11))
    assert len(jobs) == 1  # 2 probes, but a limit of 1
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 11)))[0] == []


async def test_forced_open_holds_until_set_back_to_automatic(store, breakers, queue, t0):
    await add(store, queue, t0, count=2)
    held, event = await breakers.change(queue, BreakerChange(force=Force.OPEN), t0)
    assert held.forced and held.state is O and event.forced and event.to_state is O
    assert await breakers.cool_down(seconds(t0, 10_000), 10) == []
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 1)))[0] == []
    auto, event = await breakers.change(queue, BreakerChange(force=Force.AUTO), seconds(t0, 2))
    assert auto.state is C and not auto.forced and event.to_state is C
    assert len((await store.claim([queue], "w", 10, None, seconds(t0, 3)))[0]) == 2


@postgres_only
async def test_a_claim_waits_for_the_probes_another_claim_is_taking(store, breakers, queue, t0, db):
    """Claim A holds the half-open breaker's lock between reading its room and committing the
    probes it leased; claim B, meanwhile, must not lease probes of its own (without the lock it
    reads the same room and leases two more)."""
    from broker.infra.pg import breaker_claims as bc, breaker_rows as br

    await add(store, queue, t0, count=20)
    await _open(breakers, queue, t0)
    await breakers.cool_down(seconds(t0, 10), 10)
    now, other = seconds(t0, 11), PgJobStore(db, breakers=store.breaker_names)
    async with db.acquire() as conn, conn.transaction():
        (row,) = await conn.fetch(bc.LOCK_PROBING, [queue])
        b = br.breaker(row)
        racing = asyncio.create_task(other.claim([queue], "w2", 5, None, now))
        await asyncio.sleep(0.3)  # B runs meanwhile (or waits for the lock)
        mine = await conn.fetch(bc.CLAIM_PROBES, [queue], now, 5, "w1", None, [b.probe_room])
        await conn.execute(br.PUT, *br.values(b.leased(len(mine))))
    theirs, _ = await racing
    assert (len(mine), len(theirs)) == (2, 0)
    assert (await breakers.get(queue)).probes_leased == 2


@postgres_only
async def test_racing_claimers_never_lease_more_probes_than_allowed(store, breakers, queue, t0, db):
    await add(store, queue, t0, count=20)
    await _open(breakers, queue, t0)
    await breakers.cool_down(seconds(t0, 10), 10)
    claimers = [PgJobStore(db, breakers=store.breaker_names) for _ in range(6)]
    results = await asyncio.gather(*(c.claim([queue], f"w{i}", 5, None, seconds(t0, 11))
                                     for i, c in enumerate(claimers)))
    assert sum(len(jobs) for jobs, _ in results) == 2


@postgres_only
async def test_every_change_of_state_is_an_event_row(store, breakers, queue, t0, db):
    await _open(breakers, queue, t0)
    await breakers.cool_down(seconds(t0, 10), 10)
    await breakers.change(queue, BreakerChange(force=Force.CLOSED), seconds(t0, 11))
    rows = await db.fetch("SELECT from_state, to_state, forced, reason FROM broker_breaker_events "
                          "WHERE queue = $1 ORDER BY id", queue)
    assert [(r[0], r[1], r[2]) for r in rows] == [("closed", "open", False), ("open", "half_open", False),
                                                   ("half_open", "closed", True)]
    assert rows[0][3].startswith("failure rate 1.00")


async def test_probes_obey_a_per_key_limit(store, breakers, queues, queue, t0):
    await add(store, queue, t0, count=3, concurrency_key="a")
    await queues.update(queue, ControlsChange(per_key_concurrency=1), t0)
    await _open(breakers, queue, t0)
    await breakers.cool_down(seconds(t0, 10), 10)
    jobs, _ = await store.claim([queue], "w", 10, None, seconds(t0, 11))
    assert [j.concurrency_key for j in jobs] == ["a"]  # 2 probes, but one "a" at a time
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 11)))[0] == []
    assert (await breakers.get(queue)).probes_leased == 1


async def test_probes_take_tokens_from_the_rate_limit(store, breakers, queues, queue, t0):
    await add(store, queue, t0, count=4)
    await queues.update(queue, ControlsChange(rate_limit=0.001, rate_burst=1), t0)
    await _open(breakers, queue, t0)
    await breakers.cool_down(seconds(t0, 10), 10)
    assert len((await store.claim([queue], "w", 10, None, seconds(t0, 11)))[0]) == 1  # 2 probes, 1 token
    assert (await store.claim([queue], "w", 10, None, seconds(t0, 12)))[0] == []
    (event,) = await breakers.step([queue], lambda b: b.record(0, 1, seconds(t0, 13)), seconds(t0, 13))
    assert event.to_state is O  # the probe's failure still opens it
