"""RetryJob (the dashboard's "retry now") and ListJobs' filters, on the in-memory store."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from broker.entities.errors import FailedPrecondition, InvalidArgument, JobNotFound
from broker.entities.job import JobState, Reason
from broker.entities.job_view import JobFilter, JobView
from tests.unit.test_operator_calls import killed

P = JobState.PENDING


async def test_a_scheduled_job_is_ready_now_its_queue_woken_and_the_change_recorded(world):
    (job_id,) = await world.add(run_at=world.clock.now() + timedelta(hours=1))
    world.notifier.notified.clear()

    job = await world.retry(job_id)

    assert (job.state, job.run_at, job.attempt) == (P, world.clock.now(), 0)
    assert world.notifier.notified == [["steady"]]
    assert [(e.job_id, e.reason) for e in world.sink.events[-1:]] == [(job_id, Reason.RETRY_NOW)]
    assert [j.id for j in await world.take()] == [job_id]


async def test_a_dead_job_is_redriven_with_fresh_attempts_unless_told_otherwise(world):
    first, second = await killed(world, count=2)

    assert (await world.retry(first)).attempt == 0
    assert (await world.retry(second, reset_attempts=False)).attempt == 1
    assert [e.reason for e in world.sink.events[-2:]] == [Reason.REDRIVE, Reason.REDRIVE]
    assert world.notifier.notified[-2:] == [["steady"], ["steady"]]


async def test_a_job_with_nothing_to_wait_for_is_refused_and_nothing_changes(world):
    (ready,) = await world.add()
    (running,) = await world.add("other")
    await world.take("other")
    before, events = dict(world.store.jobs), len(world.sink.events)

    for job_id in (ready, running):
        with pytest.raises(FailedPrecondition) as caught:
            await world.retry(job_id)
        assert caught.value.violation_type == "JOB_STATE" and caught.value.subject == f"jobs/{job_id}"
    with pytest.raises(JobNotFound):
        await world.retry(str(uuid.uuid4()))
    with pytest.raises(InvalidArgument):
        await world.retry("nope")
    assert (world.store.jobs, len(world.sink.events)) == (before, events)


async def test_list_jobs_checks_its_filters_and_counts_up_to_the_cap(world, monkeypatch):
    await world.add(count=3)
    for where, field in [(JobFilter(kind="k" * 129), "kind"), (JobFilter(search="x" * 257), "q"),
                         (JobFilter(kind="a\x00"), "kind"), (JobFilter(queue="bad queue"), "queue")]:
        with pytest.raises(InvalidArgument) as caught:
            await world.list_filtered(where, 10)
        assert caught.value.field == field
    monkeypatch.setattr("broker.usecases.list_jobs.TOTAL_CAP", 2)
    page = await world.list_filtered(JobFilter(views=frozenset({JobView.READY})), 1, count=True)
    assert (len(page.jobs), page.total, page.total_capped, page.at) == (1, 2, True, world.clock.now())
    assert (await world.list_filtered(JobFilter(), 1)).total is None  # not counted unless asked
