"""The SDK's admin clients against a real broker on loopback: records instead of protobuf,
paging, the dead letter operations, errors, and API keys (admin role allowed, others refused)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timezone

import pytest

from broker_client import (AdminClient, AsyncAdminClient, AsyncClient, FailedPrecondition, InvalidRequest,
                           JobRequest, JobState, NotFound, PermissionDenied, RetryPolicy, Unauthenticated)
from tests.brokers import fresh_database, key_admin, running_broker
from tests.e2e.helpers import lease, nack


@pytest.fixture
async def admin_client(broker_server):
    async with AsyncAdminClient(broker_server.grpc_address) as client:
        yield client


async def enqueue(address: str, queue: str, n: int = 1, **fields) -> list[str]:
    async with AsyncClient(address) as client:
        return [r.job_id for r in await client.enqueue_batch([JobRequest(queue, "work", {"n": i}, **fields)
                                                               for i in range(n)])]


async def kill(jobs, queue: str, n: int) -> list[str]:
    """Lease ``n`` jobs of ``queue`` and nack them permanently: DEAD."""
    leased = await lease(jobs, queue, n)
    for job in leased:
        await nack(jobs, job, error=f"fatal {job.job.id}", permanent=True)
    return [job.job.id for job in leased]


async def test_get_job_returns_the_job_and_its_history_as_records(admin_client, broker_server, queue):
    async with AsyncClient(broker_server.grpc_address) as producer:
        made = await producer.enqueue(queue, "resize", {"image": "cat.png"}, priority=-3, headers={"trace": "t1"},
                                      retry_policy=RetryPolicy(initial_delay=2, jitter="none"), max_attempts=4,
                                      lease_duration=45, idempotency_key="resize:cat", max_lease_expiries=2)
    history = await admin_client.get_job(made.job_id)
    job = history.job
    assert (job.id, job.queue, job.kind, job.state) == (made.job_id, queue, "resize", JobState.PENDING)
    assert job.json() == {"image": "cat.png"} and job.headers["trace"] == "t1"
    assert (job.priority, job.max_attempts, job.attempt, job.idempotency_key) == (-3, 4, 0, "resize:cat")
    assert (job.lease_expiries, job.max_lease_expiries) == (0, 2)
    assert job.lease_duration == 45 and job.retry_policy.initial_delay == 2 and job.retry_policy.jitter == "none"
    assert job.created_at.tzinfo is timezone.utc and job.finished_at is None and job.worker_id == ""
    [event] = history.events
    assert (event.job_id, event.from_state, event.to_state, event.reason) == (
        made.job_id, None, JobState.PENDING, "enqueue")


async def test_an_unknown_job_is_not_found_and_a_malformed_id_invalid(admin_client):
    missing = str(uuid.uuid4())
    with pytest.raises(NotFound, match=f"NOT_FOUND: .*{missing}"):
        await admin_client.get_job(missing)
    with pytest.raises(NotFound):
        await admin_client.cancel_job(missing)
    with pytest.raises(InvalidRequest, match="INVALID_ARGUMENT: job_id"):
        await admin_client.get_job("nope")


async def test_list_jobs_pages_through_next_page_token(admin_client, broker_server, queue):
    ids = await enqueue(broker_server.grpc_address, queue, 5)
    pages, token = [], ""
    while True:
        page = await admin_client.list_jobs(queue, "pending", page_size=2, page_token=token)
        pages.append([j.id for j in page.jobs])
        if not page.next_page_token:
            break
        token = page.next_page_token
    assert [len(p) for p in pages[:3]] == [2, 2, 1] and not any(pages[3:])
    listed = [i for p in pages for i in p]
    assert sorted(listed) == sorted(ids) and len(set(listed)) == 5
    assert [j.id async for j in admin_client.iter_jobs(queue, JobState.PENDING, page_size=2)] == listed
    assert [j.id async for j in admin_client.iter_jobs(queue, JobState.DEAD)] == []


async def test_dead_letters_redrive_cancel_and_purge(admin_client, broker_server, jobs, queue):
    await enqueue(broker_server.grpc_address, queue, 3, max_attempts=1)
    dead = await kill(jobs, queue, 3)
    page = await admin_client.list_jobs(queue, JobState.DEAD)
    assert sorted(j.id for j in page.jobs) == sorted(dead) and page.next_page_token == ""
    assert all(j.state is JobState.DEAD and j.last_error == f"fatal {j.id}" for j in page.jobs)
    assert [e.attempt for e in page.jobs[0].errors] == [1] and page.jobs[0].finished_at is not None

    redriven = await admin_client.redrive_jobs(dead[0])
    assert (redriven.redriven, redriven.job_ids) == (1, (dead[0],))
    cancelled = await admin_client.cancel_job(dead[0])
    assert cancelled.state is JobState.CANCELLED
    assert (await admin_client.cancel_job(dead[0])).state is JobState.CANCELLED  # safe to repeat
    with pytest.raises(FailedPrecondition, match="FAILED_PRECONDITION"):
        await admin_client.cancel_job(dead[1])
    assert await admin_client.purge_jobs([dead[0]], state="cancelled") == 1
    assert await admin_client.purge_jobs(queue=queue) == 2
    assert [j async for j in admin_client.iter_jobs(queue)] == []


async def test_stats_reports_each_queue(admin_client, broker_server, queue):
    await enqueue(broker_server.grpc_address, queue, 3)
    report = await admin_client.stats([queue])
    [stats] = report.queues
    assert report.get(queue) is stats and report.get("other") is None
    assert (stats.queue, stats.ready, stats.dead, stats.last_hour.enqueued) == (queue, 3, 0, 3)
    assert stats.oldest_ready_age >= 0 and isinstance(report.at, datetime)


async def test_bad_arguments_are_refused_before_anything_is_sent(admin_client, queue):
    with pytest.raises(ValueError, match="not both or neither"):
        await admin_client.redrive_jobs()
    with pytest.raises(ValueError, match="not both or neither"):
        await admin_client.purge_jobs([str(uuid.uuid4())], queue=queue)
    with pytest.raises(ValueError, match="unknown job state 'gone'"):
        await admin_client.list_jobs(queue, "gone")


async def test_the_blocking_client_does_the_same(broker_server, jobs, queue):
    [dead] = await enqueue(broker_server.grpc_address, queue, 1, max_attempts=1)
    await kill(jobs, queue, 1)

    def operate() -> tuple:
        with AdminClient(broker_server.grpc_address) as admin:
            listed = [j.id for j in admin.iter_jobs(queue, "DEAD", page_size=1)]
            shown = admin.get_job(dead).job.state
            ready = admin.stats(queue).get(queue).dead
            return listed, shown, ready, admin.redrive_jobs(queue=queue).job_ids, admin.cancel_job(dead).state

    # Blocking calls run in a thread: the broker serves on this test's event loop.
    assert await asyncio.to_thread(operate) == ([dead], JobState.DEAD, 1, (dead,), JobState.CANCELLED)


@pytest.fixture(scope="module")
async def secured(database_url):
    """A broker with BROKER_AUTH=true and one key per role."""
    async with fresh_database(database_url) as url:
        async with key_admin(url) as keys:
            tokens = {role: (await keys.create(f"sdk-{role}", role)).token for role in ("producer", "admin")}
        async with running_broker(url, BROKER_AUTH="true") as broker:
            yield broker.grpc_address, tokens


async def test_api_keys_the_admin_role_may_the_producer_role_may_not(secured):
    address, tokens = secured
    async with AsyncAdminClient(address, token=tokens["admin"]) as admin:
        assert (await admin.stats()).queues == ()
    async with AsyncAdminClient(address, token=tokens["producer"]) as producer:
        with pytest.raises(PermissionDenied, match="PERMISSION_DENIED: the producer role may not call Stats"):
            await producer.stats()
    async with AsyncAdminClient(address) as anonymous:
        with pytest.raises(Unauthenticated, match="UNAUTHENTICATED"):
            await anonymous.list_jobs()
