"""complete with results: each completed job keeps the result its ref carried; a repeat, a stale
token and a ref without a result change none."""

from __future__ import annotations

from broker.entities.job import JobState
from broker.entities.job_view import JobFilter, views_of
from broker.entities.lease import LeaseRef
from tests.contract.helpers import ref, running, seconds


async def test_complete_keeps_each_jobs_result_and_a_repeat_keeps_the_first(store, queue, t0):
    one, two, three = [await running(store, f"{queue}-{i}", t0) for i in range(3)]
    now = seconds(t0, 5)

    calls, _ = await store.complete([ref(one), ref(two), ref(three)], now, [b"\x00one", None, b""])
    await store.complete([ref(one)], seconds(now, 1), [b"again"])

    assert all(c.changed for c in calls)
    got = [await store.get(j.id) for j in (one, two, three)]
    assert [(j.state, j.result) for j in got] == [(JobState.SUCCEEDED, b"\x00one"), (JobState.SUCCEEDED, None),
                                                  (JobState.SUCCEEDED, b"")]
    job, _ = await store.get_with_history(one.id)
    assert job.result == b"\x00one"


async def test_complete_without_results_keeps_none_and_a_stale_token_stores_nothing(store, queue, t0):
    job = await running(store, queue, t0)
    other = await running(store, queue + "-b", t0)

    (lost,), _ = await store.complete([LeaseRef(job.id, "not-the-token")], seconds(t0, 1), [b"nope"])
    await store.complete([ref(other)], seconds(t0, 1))

    assert not lost.changed
    assert (await store.get(job.id)).result is None and (await store.get(job.id)).state is JobState.RUNNING
    assert (await store.get(other.id)).result is None


async def test_a_lease_named_twice_keeps_the_first_namings_result(store, queue, t0):
    job = await running(store, queue, t0)

    await store.complete([ref(job), ref(job)], seconds(t0, 1), [b"first", b"second"])

    assert (await store.get(job.id)).result == b"first"


async def test_a_listed_job_carries_its_result(store, queue, t0):
    job = await running(store, queue, t0)
    await store.complete([ref(job)], seconds(t0, 1), [b"r"])

    [listed] = await store.list_jobs(JobFilter(queue=queue, views=views_of(JobState.SUCCEEDED)), 10, None, t0)

    assert listed.result == b"r"
