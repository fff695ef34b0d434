"""The schedule store's contract, against the in-memory fake and PgScheduleStore.

On a database of the module's own: claiming takes every due schedule there is, and must not
take the session broker's."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta, timezone

import asyncpg
import pytest

from broker.entities.retry import Jitter
from broker.entities.schedule import JobTemplate, MissedFires, Schedule, ScheduleDefinition
from broker.infra.pg.schedules import PgScheduleStore
from tests.brokers import fresh_database
from tests.fakes.schedule_store import InMemoryScheduleStore

T = datetime(2200, 1, 1, tzinfo=timezone.utc)
JOB = JobTemplate("reports", "nightly", b"\x00{}", {"h": "v"}, priority=-3, max_attempts=4, retry_initial=2.0,
                  retry_jitter=Jitter.NONE, lease_duration=60.0)


@pytest.fixture(scope="module")
async def schedule_pool(database_url):
    async with fresh_database(database_url) as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
        yield pool
        await pool.close()


@pytest.fixture(params=["memory", "postgres"])
async def store(request, schedule_pool):
    if request.param == "memory":
        return InMemoryScheduleStore()
    pool = schedule_pool
    await pool.execute("DELETE FROM broker_schedules")
    return PgScheduleStore(pool)


def schedule(name: str | None = None, next_at: datetime = T, **fields) -> Schedule:
    definition = ScheduleDefinition(name or f"s-{uuid.uuid4().hex[:8]}", fields.pop("cron", "0 * * * *"), JOB,
                                    fields.pop("time_zone", "Europe/Berlin"), **fields)
    return Schedule(definition, next_at)


async def test_create_get_list_and_names_are_unique(store):
    a, b = schedule("b-one"), schedule("a-two", missed=MissedFires.CATCH_UP, catch_up_limit=3)
    assert await store.create(a, T) and await store.create(b, T)
    assert not await store.create(schedule("b-one", cron="@daily"), T)
    got = await store.get("b-one")
    assert got.definition == a.definition and got.next_fire_at == T and not got.paused and not got.declared
    assert (got.created_at, got.updated_at, got.last_fire_at, got.last_job_id) == (T, T, None, None)
    assert [s.name for s in await store.list_schedules()] == ["a-two", "b-one"]
    assert (await store.get("a-two")).definition == b.definition
    assert await store.get("nope") is None


async def test_replace_keeps_or_sets_the_next_fire_time(store):
    s = schedule()
    await store.create(s, T)
    new = ScheduleDefinition(s.name, "@daily", JobTemplate("other", "k"), "UTC", MissedFires.RUN_ONCE)
    got = await store.replace(new, None, T + timedelta(1))
    assert got.definition == new and got.next_fire_at == T and got.updated_at == T + timedelta(1)
    assert (await store.replace(new, T + timedelta(2), T)).next_fire_at == T + timedelta(2)
    assert await store.replace(ScheduleDefinition("nope", "@daily", JOB), None, T) is None


async def test_delete(store):
    s = schedule()
    await store.create(s, T)
    assert await store.delete(s.name) and not await store.delete(s.name)
    assert await store.get(s.name) is None


async def test_claims_take_due_unpaused_unclaimed_schedules_once(store):
    due, later, paused = schedule("due", T), schedule("later", T + timedelta(hours=1)), schedule("paused", T)
    for s in (due, later, paused):
        await store.create(s, T)
    await store.set_paused("paused", True, None, T)
    assert [s.name for s in await store.claim_due(T, T + timedelta(seconds=30), 10)] == ["due"]
    assert await store.claim_due(T + timedelta(seconds=29), T + timedelta(seconds=59), 10) == []
    # The claim lapsed (its holder died): another takes it over.
    retaken = await store.claim_due(T + timedelta(seconds=30), T + timedelta(seconds=60), 10)
    assert [s.name for s in retaken] == ["due"]


async def test_concurrent_claims_never_hand_one_schedule_out_twice(store):
    for i in range(20):
        await store.create(schedule(f"c{i:02}", T), T)
    got = await asyncio.gather(*(store.claim_due(T, T + timedelta(seconds=30), 3) for _ in range(10)))
    names = [s.name for batch in got for s in batch]
    assert sorted(names) == [f"c{i:02}" for i in range(20)]


async def test_advance_only_from_the_next_fire_time_read(store):
    s = schedule("adv", T)
    await store.create(s, T)
    (claimed,) = await store.claim_due(T, T + timedelta(seconds=30), 10)
    next_at = T + timedelta(hours=1)
    assert await store.advance("adv", claimed.next_fire_at, next_at, T, "job-1", T)
    assert not await store.advance("adv", claimed.next_fire_at, next_at + timedelta(hours=1), T, "job-2", T)
    got = await store.get("adv")
    assert (got.next_fire_at, got.last_fire_at, got.last_job_id) == (next_at, T, "job-1")
    # Advanced: the claim is released, and it is due again at its next fire time.
    assert [c.name for c in await store.claim_due(next_at, next_at + timedelta(seconds=30), 10)] == ["adv"]


async def test_pause_resume_and_trigger(store):
    s = schedule("p", T)
    await store.create(s, T)
    assert (await store.set_paused("p", True, None, T)).paused
    resumed = await store.set_paused("p", False, T + timedelta(hours=3), T)
    assert not resumed.paused and resumed.next_fire_at == T + timedelta(hours=3)
    got = await store.record_trigger("p", "job-9", T + timedelta(seconds=5))
    assert (got.last_job_id, got.last_fire_at, got.next_fire_at) == ("job-9", T + timedelta(seconds=5),
                                                                    T + timedelta(hours=3))
    assert await store.set_paused("nope", True, None, T) is None
    assert await store.record_trigger("nope", "j", T) is None


async def test_declared_schedules_are_the_files_desired_state(store):
    api = schedule("api-made")
    await store.create(api, T)
    one, two = schedule("f-one", T), schedule("f-two", T)
    changes = await store.apply_declared([one, two], T)
    assert (changes.created, changes.updated, changes.deleted) == (("f-one", "f-two"), (), ())
    assert (await store.get("f-one")).declared
    again = await store.apply_declared([one, two], T + timedelta(1))  # the same file: nothing changes
    assert (again.created, again.updated, again.deleted) == ((), (), ())
    assert (await store.get("f-one")).updated_at == T

    # f-one's job changes (the next fire time stays), its cron changes (it is recomputed), f-two goes.
    new_job = ScheduleDefinition("f-one", "0 * * * *", JobTemplate("q2", "k2"), "Europe/Berlin")
    changes = await store.apply_declared([Schedule(new_job, T + timedelta(hours=9))], T + timedelta(1))
    assert (changes.created, changes.updated, changes.deleted) == ((), ("f-one",), ("f-two",))
    got = await store.get("f-one")
    assert got.definition == new_job and got.next_fire_at == T
    new_cron = ScheduleDefinition("f-one", "@daily", JobTemplate("q2", "k2"), "Europe/Berlin")
    await store.apply_declared([Schedule(new_cron, T + timedelta(hours=9))], T)
    assert (await store.get("f-one")).next_fire_at == T + timedelta(hours=9)

    # The API's schedule stays; an empty file deletes every declared one.
    changes = await store.apply_declared([], T)
    assert changes.deleted == ("f-one",)
    assert [s.name for s in await store.list_schedules()] == ["api-made"]
    # A file that names an API-made schedule takes it over.
    changes = await store.apply_declared([schedule("api-made")], T)
    assert changes.updated == ("api-made",) and (await store.get("api-made")).declared
