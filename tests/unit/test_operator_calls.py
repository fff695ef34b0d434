"""The operators' interactors: GetJob, ListJobs (page tokens), Stats, the workers, RedriveJobs,
CancelJob, PurgeJobs."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta

import pytest

from broker.entities.errors import IllegalTransition, InvalidArgument, JobNotFound
from broker.entities.job import JobState, Reason
from broker.entities.lease import LeaseRef, LeaseResult, Outcome
from broker.entities.job_view import JobFilter
from broker.usecases.list_jobs import ListJobs
from broker.usecases.nack import NackItem
from broker.usecases.paging import PageTokens
from tests.fakes import serving
from tests.unit.conftest import World

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
UNKNOWN = str(uuid.uuid4())


async def killed(world: World, queue: str = "steady", count: int = 1) -> list[str]:
    await world.add(queue, count=count)
    jobs = await world.take(queue, count=count)
    await world.nack([NackItem(LeaseRef(j.id, j.lease_token), "fatal", permanent=True) for j in jobs])
    return [j.id for j in jobs]


async def field_of(call, *args, **kwargs) -> str:
    with pytest.raises(InvalidArgument) as caught:
        await call(*args, **kwargs)
    return caught.value.field


# -- GetJob ------------------------------------------------------------------------------------

async def test_get_job_returns_the_job_and_its_history(world):
    (job_id,) = await world.add()

    job, history = await world.get_job(job_id.upper())

    assert job.id == job_id
    assert [(e.from_state, e.to_state, e.reason) for e in history] == [(None, P, Reason.ENQUEUE)]


async def test_get_job_refuses_a_malformed_id_and_reports_an_unknown_one(world):
    assert await field_of(world.get_job, "42") == "job_id"
    with pytest.raises(JobNotFound) as caught:
        await world.get_job(UNKNOWN)
    assert caught.value.job_id == UNKNOWN


# -- ListJobs ------------------------------------------------------------------------------------

async def test_pages_walk_every_job_once_newest_first(world):
    ids = []
    for _ in range(3):
        ids += await world.add(count=2)  # two jobs per instant: the id breaks the tie
        world.clock.advance(1)
    newest_first = [j.id for j in sorted(world.store.jobs.values(), key=lambda j: (j.created_at, j.id), reverse=True)]

    pages, token = [], ""
    while True:
        page = await world.list_jobs("steady", None, 4, token)
        pages.append([j.id for j in page.jobs])
        token = page.next_token
        if not token:
            break

    assert [len(p) for p in pages] == [4, 2]
    assert [i for p in pages for i in p] == newest_first


async def test_a_full_last_page_says_there_are_no_more(world):
    await world.add(count=2)

    page = await world.list_jobs(None, None, 2, "")

    assert len(page.jobs) == 2 and page.next_token == ""


async def test_a_page_with_more_after_it_has_a_token_for_them(world):
    await world.add(count=3)

    first = await world.list_jobs(None, None, 2, "")
    second = await world.list_jobs(None, None, 2, first.next_token)

    assert len(first.jobs) == 2 and first.next_token
    assert len(second.jobs) == 1 and second.next_token == ""


async def test_list_jobs_filters_by_queue_and_state(world):
    (dead,) = await killed(world)
    await world.add("other")

    page = await world.list_jobs("steady", D, 0, "")

    assert [j.id for j in page.jobs] == [dead] and page.next_token == ""
    assert len((await world.list_jobs(None, None, 0, "")).jobs) == 2  # page size 0: the default, 100


@pytest.mark.parametrize("token", [
    "not base64!",
    "ünïcode",
    "x" * 10_000,
    base64.urlsafe_b64encode(b"no separator").decode(),
    base64.urlsafe_b64encode(b"2030-01-01T00:00:00+00:00|not-a-uuid").decode(),
    base64.urlsafe_b64encode(b"yesterday|" + UNKNOWN.encode()).decode(),
    base64.urlsafe_b64encode(b"a|b|c").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe|x").decode(),
    # The old format, a timestamp and an id: well formed, but not signed (and out of range).
    base64.urlsafe_b64encode(f"9999-12-31T23:59:59-23:59|{UNKNOWN}".encode()).decode(),
    base64.urlsafe_b64encode(f"2030-01-01T00:00:00+00:00|{UNKNOWN}".encode()).decode(),
])
async def test_a_page_token_not_from_a_response_is_refused(world, token):
    with pytest.raises(InvalidArgument) as caught:
        await world.list_jobs(None, None, 10, token)
    assert caught.value.field == "page_token"
    assert "not a token this broker issued" in str(caught.value)


async def test_a_forged_or_altered_token_is_refused(world):
    await world.add(count=3)
    token = (await world.list_jobs(None, None, 1, "")).next_token
    raw = bytearray(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    altered = []
    for i in (0, 1, 9, len(raw) - 1):  # the version, the time, the id, the signature
        changed = bytearray(raw)
        changed[i] ^= 1
        altered.append(base64.urlsafe_b64encode(bytes(changed)).decode().rstrip("="))
    other_key = PageTokens(b"someone else's secret, not ours").issue("|", world.clock.now(), UNKNOWN)

    for bad in (*altered, other_key, token[:-2]):
        assert await field_of(world.list_jobs, None, None, 1, bad) == "page_token"
    assert len((await world.list_jobs(None, None, 1, token)).jobs) == 1  # the real one still works


async def test_a_token_continues_only_the_listing_it_came_from(world):
    await killed(world, count=2)
    await world.add("other", count=2)
    token = (await world.list_jobs("steady", None, 1, "")).next_token

    assert await field_of(world.list_jobs, "other", None, 1, token) == "page_token"
    assert await field_of(world.list_jobs, "steady", D, 1, token) == "page_token"
    assert await field_of(world.list_jobs, None, None, 1, token) == "page_token"
    assert len((await world.list_jobs("steady", None, 1, token)).jobs) == 1


async def test_tokens_of_one_replica_are_good_on_another_with_the_same_secret(world):
    await world.add(count=2)
    token = (await world.list_jobs(None, None, 1, "")).next_token
    replica = ListJobs(world.store, world.limits, PageTokens(b"unit tests' page token secret"), world.clock)

    assert len((await replica(JobFilter(), 1, token)).jobs) == 1


async def test_list_jobs_checks_the_page_size_and_queue(world):
    assert await field_of(world.list_jobs, None, None, 1001, "") == "page_size"
    assert await field_of(world.list_jobs, "bad queue", None, 10, "") == "queue"


# -- Stats and workers ------------------------------------------------------------------------------

async def test_stats_are_computed_at_the_clock_time(world):
    await world.add(count=2)
    await world.add(run_at=world.clock.now() + timedelta(seconds=30))
    world.clock.advance(40)

    (stats,) = await world.stats(["steady"])

    assert (stats.queue, stats.ready, stats.scheduled, stats.oldest_ready_age) == ("steady", 3, 0, 40.0)
    assert stats.last_minute.enqueued == 3


async def test_stats_check_every_queue_name(world):
    assert await field_of(world.stats, ["ok", "fine", "not ok"]) == "queues[2]"
    assert await world.stats([]) == []


async def test_workers_lists_who_holds_leases(world):
    await world.add(count=3)
    await world.take(count=2, worker="alpha")
    world.clock.advance(5)
    await world.take(worker="beta")

    found = await world.workers()

    assert [(w.worker_id, w.queue, w.leases) for w in found] == [("alpha", "steady", 2), ("beta", "steady", 1)]
    assert found[1].last_heartbeat == world.clock.now()


# -- RedriveJobs -------------------------------------------------------------------------------

async def test_redrive_by_ids_makes_dead_jobs_ready_and_wakes_their_queue(world):
    dead = await killed(world, count=2)
    world.notifier.notified.clear()
    world.clock.advance(10)

    with serving("op-1"):
        redriven = await world.redrive(dead, None)

    assert sorted(redriven) == sorted(dead)
    assert all((world.store.jobs[i].state, world.store.jobs[i].attempt) == (P, 0) for i in dead)
    assert world.notifier.notified == [["steady"]]
    assert world.sink.calls[-1][1] == "op-1"
    assert len(await world.take(count=2)) == 2


async def test_redrive_a_whole_queue_without_resetting_attempts(world):
    dead = await killed(world, "other")

    assert await world.redrive([], "other", reset_attempts=False) == dead
    assert world.store.jobs[dead[0]].attempt == 1


async def test_redrive_of_nothing_dead_wakes_nobody(world):
    (pending,) = await world.add()
    world.notifier.notified.clear()

    assert await world.redrive([pending], None) == []
    assert world.notifier.notified == []


@pytest.mark.parametrize("ids, queue, field", [
    ([], None, "job_ids"),
    ([UNKNOWN], "steady", "job_ids"),
    ([UNKNOWN, "nope"], None, "job_ids[1]"),
    ([], "bad queue", "queue"),
    ([UNKNOWN] * 1001, None, "job_ids"),
])
async def test_redrive_and_purge_check_their_targets(world, ids, queue, field):
    assert await field_of(world.redrive, ids, queue) == field
    assert await field_of(world.purge, ids, queue) == field


# -- CancelJob --------------------------------------------------------------------------------------

async def test_cancel_a_running_job_and_its_worker_learns_at_the_next_heartbeat(world):
    await world.add()
    (job,) = await world.take()

    with serving("op-2"):
        cancelled = await world.cancel(job.id)

    assert cancelled.state is C
    assert world.sink.calls[-1][1] == "op-2"
    assert await world.heartbeat([LeaseRef(job.id, job.lease_token)]) == [LeaseResult(job.id, Outcome.LOST, C)]


async def test_cancelling_twice_returns_the_cancelled_job_without_a_second_event(world):
    (job_id,) = await world.add()
    await world.cancel(job_id)

    again = await world.cancel(job_id)

    assert again.state is C
    assert [e.reason for e in world.sink.for_job(job_id)] == [Reason.ENQUEUE, Reason.CANCEL]


async def test_a_finished_job_cannot_be_cancelled(world):
    (dead,) = await killed(world)

    with pytest.raises(IllegalTransition) as caught:
        await world.cancel(dead)

    assert str(caught.value) == f"job {dead} cannot go from DEAD to CANCELLED"
    assert world.store.jobs[dead].state is D


async def test_cancel_checks_the_id(world):
    assert await field_of(world.cancel, "nope") == "job_id"
    with pytest.raises(JobNotFound):
        await world.cancel(UNKNOWN)


# -- PurgeJobs --------------------------------------------------------------------------------------

async def test_purge_deletes_dead_jobs_by_default(world):
    dead = await killed(world, count=2)
    (pending,) = await world.add()

    assert await world.purge(dead + [pending], None) == 2

    assert set(world.store.jobs) == {pending}
    assert await world.store.history(dead[0]) == []


async def test_purge_another_finished_state_by_queue(world):
    (job_id,) = await world.add("other")
    await world.cancel(job_id)
    await killed(world, "other")

    assert await world.purge([], "other", C) == 1
    assert len(world.store.jobs) == 1


@pytest.mark.parametrize("state", [P, R])
async def test_only_finished_jobs_can_be_purged(world, state):
    assert await field_of(world.purge, [UNKNOWN], None, state) == "state"
