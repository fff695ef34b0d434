"""Group commit (usecases/group_commit.py): calls that arrive while writes are in flight share one
write, each caller gets exactly its own results and events, a bad call fails alone, and a call
given up before its group is taken is never written."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.errors import InvalidArgument, Unavailable
from broker.entities.job import Event, JobState, Reason
from broker.entities.retry import RetryPolicy
from broker.infra import settings
from broker.infra.settings import SettingsError
from broker.usecases.group_commit import GroupCommit
from broker.usecases.ports import Inserted, NewJob
from tests.unit.turns import until

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


def job(name: str, key: str | None = None) -> NewJob:
    return NewJob(queue="q", kind=name, payload=b"", headers={}, idempotency_key=key, priority=0,
                  run_at=T0, max_attempts=3, retry=RetryPolicy(), lease_duration=30.0)


class Store:
    """A write that records each call's jobs and holds writes until released."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.keys: dict[str, str] = {}
        self.fail_on: str | None = None

    async def write(self, jobs, now):
        self.writes.append([j.kind for j in jobs])
        await self.gate.wait()
        if self.fail_on is not None and any(j.kind == self.fail_on for j in jobs):
            raise InvalidArgument("job.kind", f"{self.fail_on} is refused by the store")
        inserted, events = [], []
        for j in jobs:
            if j.idempotency_key in self.keys:
                inserted.append(Inserted(self.keys[j.idempotency_key], False))
                continue
            job_id = f"id-{j.kind}"
            if j.idempotency_key is not None:
                self.keys[j.idempotency_key] = job_id
            inserted.append(Inserted(job_id, True))
            events.append(Event(job_id, j.queue, None, JobState.PENDING, Reason.ENQUEUE, 0, now, kind=j.kind))
        return inserted, events


class Heard:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def enqueue_written(self, calls: int) -> None:
        self.calls.append(calls)


async def writer_busy(store: Store, group: GroupCommit) -> asyncio.Task:
    """A first call of job "a" whose write the store holds: the only writer is busy from now on."""
    store.gate.clear()
    first = asyncio.create_task(group([job("a")], T0))
    await until(lambda: store.writes)
    return first


async def test_a_call_on_an_idle_broker_is_written_at_once_and_alone():
    store, heard = Store(), Heard()
    group = GroupCommit(store.write, writers=1, listener=heard)
    inserted, events = await group([job("a"), job("b")], T0)
    assert store.writes == [["a", "b"]] and heard.calls == [1]
    assert [i.job_id for i in inserted] == ["id-a", "id-b"] and [e.job_id for e in events] == ["id-a", "id-b"]


async def test_calls_arriving_during_a_write_share_the_next_write_and_get_their_own_results():
    store, heard = Store(), Heard()
    group = GroupCommit(store.write, writers=1, listener=heard)
    first = await writer_busy(store, group)
    later = [asyncio.create_task(group([job(f"b{i}"), job(f"c{i}")], T0 + timedelta(seconds=i)))
             for i in range(3)]
    await asyncio.sleep(0)
    assert store.writes == [["a"]]  # nobody else writes while the only writer is busy
    store.gate.set()
    results = await asyncio.gather(first, *later)
    assert store.writes == [["a"], ["b0", "c0", "b1", "c1", "b2", "c2"]]
    assert heard.calls == [1, 3]
    for i, (inserted, events) in enumerate(results[1:]):
        assert [r.job_id for r in inserted] == [f"id-b{i}", f"id-c{i}"]
        assert [e.job_id for e in events] == [f"id-b{i}", f"id-c{i}"]
        assert {e.at for e in events} == {T0 + timedelta(seconds=2)}  # the group's time: its latest call's


async def test_a_key_two_calls_of_one_group_share_is_one_job_created_once():
    store = Store()
    group = GroupCommit(store.write, writers=1)
    first = await writer_busy(store, group)
    one = asyncio.create_task(group([job("x", key="k")], T0))
    two = asyncio.create_task(group([job("y", key="k")], T0))
    await asyncio.sleep(0)
    store.gate.set()
    await first
    (i1, e1), (i2, e2) = await one, await two
    assert i1 == [Inserted("id-x", True)] and i2 == [Inserted("id-x", False)]
    assert [e.job_id for e in e1] == ["id-x"] and e2 == []


async def test_a_group_is_bounded_by_max_jobs():
    store = Store()
    group = GroupCommit(store.write, writers=1, max_jobs=4)
    first = await writer_busy(store, group)
    later = [asyncio.create_task(group([job(f"b{i}"), job(f"c{i}")], T0)) for i in range(3)]
    big = asyncio.create_task(group([job(f"d{i}") for i in range(6)], T0))  # alone, even over the bound
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(first, *later, big)
    assert [len(w) for w in store.writes] == [1, 4, 2, 6]


async def test_a_call_the_store_refuses_fails_alone_and_its_neighbours_are_written():
    store = Store()
    group = GroupCommit(store.write, writers=1)
    first = await writer_busy(store, group)
    good = asyncio.create_task(group([job("g1")], T0))
    bad = asyncio.create_task(group([job("bad")], T0))
    other = asyncio.create_task(group([job("g2")], T0))
    await asyncio.sleep(0)
    store.fail_on = "bad"
    store.gate.set()
    await first
    outcomes = await asyncio.wait_for(asyncio.gather(good, bad, other, return_exceptions=True), 5)
    assert outcomes[0][0] == [Inserted("id-g1", True)] and outcomes[2][0] == [Inserted("id-g2", True)]
    assert isinstance(outcomes[1], InvalidArgument) and "bad is refused" in str(outcomes[1])
    assert store.writes[1:] == [["g1", "bad", "g2"], ["g1"], ["bad"], ["g2"]]


async def test_the_database_away_fails_every_call_of_the_group_with_unavailable():
    attempts = []

    async def away(jobs, now):
        attempts.append(len(jobs))
        await asyncio.sleep(0)
        raise Unavailable("database unavailable")

    group = GroupCommit(away, writers=1)
    calls = [asyncio.create_task(group([job(f"a{i}")], T0)) for i in range(4)]
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, Unavailable) for o in outcomes)
    assert attempts == [1, 3]  # the group is not retried call by call: the database is away


async def test_a_call_given_up_before_its_group_is_taken_is_never_written():
    store = Store()
    group = GroupCommit(store.write, writers=1)
    first = await writer_busy(store, group)
    gone = asyncio.create_task(group([job("gone")], T0))
    kept = asyncio.create_task(group([job("kept")], T0))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.sleep(0)
    store.gate.set()
    await first
    assert (await kept)[0] == [Inserted("id-kept", True)]
    assert gone.cancelled()
    assert store.writes == [["a"], ["kept"]]


async def test_a_caller_gone_after_its_group_was_taken_leaves_the_others_answered():
    store = Store()
    group = GroupCommit(store.write, writers=1)
    first = await writer_busy(store, group)
    gone = asyncio.create_task(group([job("gone")], T0))
    kept = asyncio.create_task(group([job("kept")], T0))
    await asyncio.sleep(0)
    store.gate.set()
    await until(lambda: len(store.writes) == 2)
    store.gate.clear()
    await first
    gone.cancel()
    store.gate.set()
    assert (await kept)[0] == [Inserted("id-kept", True)]
    assert store.writes == [["a"], ["gone", "kept"]]  # written, as a call cancelled mid-statement may be


async def test_two_writers_write_two_groups_at_once():
    store = Store()
    group = GroupCommit(store.write, writers=2)
    store.gate.clear()
    calls = [asyncio.create_task(group([job(f"a{i}")], T0)) for i in range(6)]
    await until(lambda: len(store.writes) == 2)
    assert store.writes == [["a0"], ["a1"]]
    store.gate.set()
    await asyncio.gather(*calls)
    assert sorted(len(w) for w in store.writes) == [1, 1, 4]


def test_writers_and_max_jobs_must_be_positive():
    for writers, max_jobs in ((0, 10), (1, 0)):
        with pytest.raises(ValueError):
            GroupCommit(Store().write, writers=writers, max_jobs=max_jobs)


@pytest.mark.parametrize("env, message", [
    ({"BROKER_GROUP_COMMIT_WRITERS": "-1"}, "BROKER_GROUP_COMMIT_WRITERS='-1': must not be negative"),
    ({"BROKER_GROUP_COMMIT_MAX_JOBS": "0"}, "BROKER_GROUP_COMMIT_MAX_JOBS=0: must be at least 1"),
])
def test_bad_group_commit_settings_are_refused_with_their_name(env, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        settings.load(env)


def test_group_commit_is_on_by_default_and_0_writers_turns_it_off():
    assert settings.load({}).database.group_commit_writers == 2
    assert settings.load({"BROKER_GROUP_COMMIT_WRITERS": "0"}).database.group_commit_writers == 0


async def test_an_event_of_no_calls_job_goes_to_the_first_call_and_nobody_waits_forever():
    store = Store()

    async def write(jobs, now):
        inserted, events = await store.write(jobs, now)
        return inserted, events + [Event("other", "q", None, JobState.PENDING, Reason.ENQUEUE, 0, now)]

    group = GroupCommit(write, writers=1)
    first = await writer_busy(store, group)
    later = [asyncio.create_task(group([job(f"b{i}")], T0)) for i in range(2)]
    await asyncio.sleep(0)
    store.gate.set()
    await first
    (_, e0), (_, e1) = await asyncio.wait_for(asyncio.gather(*later), 5)
    assert [e.job_id for e in e0] == ["id-b0", "other"] and [e.job_id for e in e1] == ["id-b1"]
