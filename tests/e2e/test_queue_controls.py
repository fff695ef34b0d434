"""Queue controls through real brokers: the calls and their bad input, pause and resume obeyed
by every replica (a resume wakes long polls elsewhere), and a concurrency limit that 8 leasers
on 2 replicas never push past (counted from the event log)."""

from __future__ import annotations

import asyncio
import random

import asyncpg
import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb
from broker.v1 import admin_service_pb2_grpc, job_pb2, job_service_pb2 as jpb, job_service_pb2_grpc
from tests.brokers import running_broker
from tests.e2e.observe import scrape


def specs(queue: str, n: int) -> jpb.EnqueueBatchRequest:
    return jpb.EnqueueBatchRequest(jobs=[job_pb2.JobSpec(queue=queue, kind="k", payload=b"x") for _ in range(n)])


async def test_controls_are_read_changed_and_listed_and_every_change_is_an_event(admin, queue, db, broker_server):
    fresh = (await admin.GetQueue(apb.GetQueueRequest(queue=queue))).queue
    assert (fresh.queue, fresh.paused, fresh.concurrency_limit, fresh.HasField("updated_at")) == (queue, False, 0, False)

    paused = (await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, paused=True))).queue
    assert paused.paused and paused.concurrency_limit == 0 and paused.HasField("updated_at")
    limited = (await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, concurrency_limit=4))).queue
    assert limited.paused and limited.concurrency_limit == 4  # what the call left unset stays
    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, concurrency_limit=4))  # a no-op
    listed = {q.queue: q for q in (await admin.ListQueues(apb.ListQueuesRequest())).queues}
    assert listed[queue] == limited

    rows = await db.fetch("SELECT paused_before, paused, concurrency_limit_before, concurrency_limit "
                          "FROM broker_queue_events WHERE queue = $1 ORDER BY id", queue)
    assert [tuple(r) for r in rows] == [(False, True, None, None), (True, True, None, 4)]
    _, samples = await scrape(broker_server.http_port)
    assert samples.get_value("broker_queue_paused", queue=queue) == 1
    assert samples.get_value("broker_queue_concurrency_limit", queue=queue) == 4

    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, paused=False, concurrency_limit=0))
    _, samples = await scrape(broker_server.http_port)
    assert samples.get_value("broker_queue_paused", queue=queue) == 0
    assert samples.get_value("broker_queue_concurrency_limit", None, queue=queue) is None


@pytest.mark.parametrize("request_fields, field", [
    ({"concurrency_limit": -1}, "concurrency_limit"),
    ({"concurrency_limit": 1_000_001}, "concurrency_limit"),
    ({"queue": "", "paused": True}, "name"),
    ({"queue": "no spaces", "paused": True}, "name"),
])
async def test_bad_input_names_the_field_and_changes_nothing(admin, queue, db, request_fields, field):
    fields = {"queue": queue, "paused": True, **request_fields}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateQueue(apb.UpdateQueueRequest(**fields))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field + ":"), caught.value.details()
    assert await db.fetchval("SELECT count(*) FROM broker_queues WHERE name = $1", fields["queue"]) == 0
    assert await db.fetchval("SELECT count(*) FROM broker_queue_events WHERE queue = $1", fields["queue"]) == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.GetQueue(apb.GetQueueRequest(queue="bad name"))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT and caught.value.details().startswith("name:")


async def test_a_pause_holds_every_replica_and_a_resume_wakes_long_polls_on_another(own_database, queue):
    # Re-checks rarely: only the resume's NOTIFY can wake the waiting Lease in time.
    async with running_broker(own_database, BROKER_LONG_POLL_RECHECK="30") as a, \
            running_broker(own_database, BROKER_LONG_POLL_RECHECK="30") as b, \
            grpc.aio.insecure_channel(a.grpc_address) as ca, grpc.aio.insecure_channel(b.grpc_address) as cb:
        admin_a = admin_service_pb2_grpc.AdminServiceStub(ca)
        jobs_a, jobs_b = job_service_pb2_grpc.JobServiceStub(ca), job_service_pb2_grpc.JobServiceStub(cb)
        await admin_a.UpdateQueue(apb.UpdateQueueRequest(queue=queue, paused=True))
        await jobs_b.EnqueueBatch(specs(queue, 2))  # Enqueue works on a paused queue
        request = jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=5)
        assert not (await jobs_b.Lease(request)).jobs
        assert not (await jobs_a.Lease(request)).jobs

        request.wait.seconds = 20
        async def long_poll():
            return await jobs_b.Lease(request, timeout=25)

        waiting = asyncio.create_task(long_poll())
        await asyncio.sleep(0.3)  # the long poll is waiting (a NOTIFY sent before it would not count)
        assert not waiting.done()
        await admin_a.UpdateQueue(apb.UpdateQueueRequest(queue=queue, paused=False))
        got = await asyncio.wait_for(waiting, 10)  # woken by the NOTIFY, long before its re-check
        assert len(got.jobs) == 2


async def _leaser(stub, queue: str, name: str, rng: random.Random, done: asyncio.Event) -> int:
    taken = 0
    while not done.is_set():
        leased = (await stub.Lease(jpb.LeaseRequest(queues=[queue], worker_id=name, max_jobs=2))).jobs
        if not leased:
            await asyncio.sleep(0.005)
            continue
        taken += len(leased)
        await asyncio.sleep(rng.uniform(0.005, 0.03))  # the work
        await stub.Ack(jpb.AckRequest(leases=[jpb.LeaseRef(job_id=j.job.id, lease_token=j.lease_token)
                                              for j in leased]))
    return taken


async def _most_running(db, queue: str) -> int:
    """The most jobs of the queue RUNNING at once, replayed from the event log in id order (an
    event's id is drawn before its statement commits, so a lease that needed the room an ack
    freed always comes after that ack)."""
    running = most = 0
    for to_state, from_state in await db.fetch(
            "SELECT to_state, from_state FROM broker_events WHERE queue = $1 ORDER BY id", queue):
        running += (to_state == "running") - (from_state == "running")
        most = max(most, running)
    return most


@pytest.mark.slow
async def test_a_concurrency_limit_holds_across_eight_leasers_on_two_replicas(own_database, queue):
    total, limit = 60, 3
    async with running_broker(own_database) as a, running_broker(own_database) as b, \
            grpc.aio.insecure_channel(a.grpc_address) as ca, grpc.aio.insecure_channel(b.grpc_address) as cb:
        await admin_service_pb2_grpc.AdminServiceStub(ca).UpdateQueue(
            apb.UpdateQueueRequest(queue=queue, concurrency_limit=limit))
        stubs = [job_service_pb2_grpc.JobServiceStub(c) for c in (ca, cb)]
        await stubs[0].EnqueueBatch(specs(queue, total))
        done, rng = asyncio.Event(), random.Random(3)
        leasers = [asyncio.create_task(_leaser(stubs[i % 2], queue, f"w{i}", rng, done)) for i in range(8)]
        conn = await asyncpg.connect(own_database)
        try:
            while await conn.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1 AND state <> 'succeeded'",
                                      queue):
                await asyncio.sleep(0.05)
            done.set()
            taken = await asyncio.gather(*leasers)
            most = await _most_running(conn, queue)
        finally:
            await conn.close()
    assert sum(taken) == total
    assert most == limit  # reached, never passed


async def test_the_queues_commands(queue, jobs, broker_server):
    from tests.e2e.test_cli_ops import broker_cli, rows

    target = broker_server.grpc_address
    code, out, err = await broker_cli("queues", "pause", queue, target=target)
    assert code == 0, err
    assert rows(out)[queue]["PAUSED"] == "yes"
    code, out, err = await broker_cli("queues", "limit", queue, "3", target=target)
    assert code == 0 and rows(out)[queue]["CONCURRENCY_LIMIT"] == "3", err
    code, out, _ = await broker_cli("queues", "list", target=target)
    assert (rows(out)[queue]["PAUSED"], rows(out)[queue]["CONCURRENCY_LIMIT"]) == ("yes", "3")
    await jobs.EnqueueBatch(specs(queue, 1))
    assert not (await jobs.Lease(jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=1))).jobs
    code, out, _ = await broker_cli("queues", "resume", queue, target=target)
    assert code == 0 and rows(out)[queue]["PAUSED"] == "no"
    code, out, _ = await broker_cli("queues", "show", queue, target=target)
    assert rows(out)[queue]["CONCURRENCY_LIMIT"] == "3"
    code, _, err = await broker_cli("queues", "limit", queue, "-2", target=target)
    assert code == 1 and "concurrency_limit" in err


async def test_the_async_admin_client_reads_and_changes_controls(queue, broker_server):
    from broker_client.admin import AsyncAdminClient, QueueControls

    async with AsyncAdminClient(broker_server.grpc_address) as client:
        assert await client.get_queue(queue) == QueueControls(queue)
        limited = await client.update_queue(queue, concurrency_limit=2)
        assert (limited.paused, limited.concurrency_limit) == (False, 2) and limited.updated_at is not None
        assert (await client.pause_queue(queue)).paused
        assert not (await client.resume_queue(queue)).paused
        assert queue in [q.queue for q in await client.list_queues()]
        cleared = await client.update_queue(queue, concurrency_limit=0)
        assert cleared.concurrency_limit is None
