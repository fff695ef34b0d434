"""Circuit breakers through real brokers: two replicas on one database and one clock (moved,
never slept through). Failures reported to one replica open the breaker; while it is open
neither replica leases the queue's jobs (they wait, nothing fails them); after the cool-down it
goes half-open and the two replicas together let exactly `probes` jobs through; their success
closes it. Operators force it open or closed; bad settings name the field and change nothing;
the state shows in GetQueue, ListQueues, Stats, /metrics and the CLI, and every change is an
event row and a log line."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest

from broker.infra.pg.breakers import NAMES_TTL
from broker.v1 import admin_service_pb2 as apb
from broker.v1 import admin_service_pb2_grpc, job_pb2, job_service_pb2 as jpb, job_service_pb2_grpc
from tests.brokers import running_broker
from tests.e2e.observe import get_json, scrape
from tests.fakes import ShiftedClock

CLOSED, OPEN, HALF = apb.BREAKER_STATE_CLOSED, apb.BREAKER_STATE_OPEN, apb.BREAKER_STATE_HALF_OPEN
SETTINGS = apb.BreakerSettings(window_seconds=60, min_attempts=4, failure_rate=0.5, cool_down_seconds=30, probes=2)


def specs(queue: str, n: int) -> jpb.EnqueueBatchRequest:
    return jpb.EnqueueBatchRequest(jobs=[job_pb2.JobSpec(queue=queue, kind="k", payload=b"x") for _ in range(n)])


def refs(leased) -> list[jpb.LeaseRef]:
    return [jpb.LeaseRef(job_id=j.job.id, lease_token=j.lease_token) for j in leased]


async def _breaker(admin, queue: str) -> apb.Breaker:
    return (await admin.GetQueue(apb.GetQueueRequest(queue=queue))).queue.breaker


async def _until(admin, queue: str, state) -> apb.Breaker:
    """The breaker once the cool-down pass (every reaper interval, 0.1 s here) moved it."""
    for _ in range(200):
        b = await _breaker(admin, queue)
        if b.state == state:
            return b
        await asyncio.sleep(0.05)
    raise AssertionError(f"breaker still {b.state}")


async def test_a_breaker_opens_holds_probes_and_closes_across_two_replicas(own_database, queue, caplog):
    caplog.set_level(logging.INFO, logger="broker.queues")
    clock = ShiftedClock()
    async with running_broker(own_database, clock) as a, running_broker(own_database, clock) as b, \
            grpc.aio.insecure_channel(a.grpc_address) as ca, grpc.aio.insecure_channel(b.grpc_address) as cb:
        admin_a, admin_b = (admin_service_pb2_grpc.AdminServiceStub(c) for c in (ca, cb))
        jobs_a, jobs_b = (job_service_pb2_grpc.JobServiceStub(c) for c in (ca, cb))
        made = (await admin_a.UpdateQueue(apb.UpdateQueueRequest(queue=queue, breaker=SETTINGS))).queue.breaker
        assert made.state == CLOSED and made.settings == SETTINGS
        # Replica b learns that the queue has a breaker within NAMES_TTL (its own loops, e.g. the
        # callback deliveries' claims, may have read the list of breakers just before): the
        # documented "within about a second".
        await asyncio.sleep(NAMES_TTL + 0.1)
        await jobs_b.EnqueueBatch(specs(queue, 10))

        leased = (await jobs_b.Lease(jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=4))).jobs
        await jobs_a.Nack(jpb.NackRequest(items=[jpb.NackItem(lease=r, error="down") for r in refs(leased)]))
        opened = await _breaker(admin_b, queue)
        assert opened.state == OPEN and opened.reason.startswith("failure rate 1.00") and opened.HasField("half_open_at")

        for stub in (jobs_a, jobs_b):  # held back on both replicas, also once the retries are due
            clock.advance(5)
            assert not (await stub.Lease(jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=10))).jobs
        states = [j.state for j in (await admin_a.ListJobs(apb.ListJobsRequest(queue=queue))).jobs]
        assert states == [job_pb2.JOB_STATE_PENDING] * 10  # waiting, none failed or dead

        clock.advance(25)  # the cool-down is over
        await _until(admin_a, queue, HALF)
        request = jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=5)
        probes = await asyncio.gather(*(stub.Lease(request) for stub in (jobs_a, jobs_b, jobs_a, jobs_b)))
        taken = [j for got in probes for j in got.jobs]
        assert len(taken) == 2  # exactly the probes, across both replicas
        assert (await _breaker(admin_b, queue)).probes_leased == 2

        await jobs_a.Ack(jpb.AckRequest(leases=refs(taken[:1])))
        assert (await _breaker(admin_a, queue)).state == HALF
        await jobs_b.Ack(jpb.AckRequest(leases=refs(taken[1:])))
        closed = await _breaker(admin_a, queue)
        assert closed.state == CLOSED and closed.reason == "2 probe(s) succeeded"
        rest = (await jobs_b.Lease(jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=20))).jobs
        assert len(rest) == 8

        import asyncpg
        conn = await asyncpg.connect(own_database)
        try:
            rows = await conn.fetch("SELECT from_state, to_state FROM broker_breaker_events WHERE queue = $1 "
                                    "ORDER BY id", queue)
        finally:
            await conn.close()
    changes = [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    assert [tuple(r) for r in rows] == changes
    logged = [(r.breaker_from, r.breaker_to) for r in caplog.records
              if r.name == "broker.queues" and getattr(r, "queue", None) == queue and hasattr(r, "breaker_to")]
    assert logged == changes


async def test_operators_force_it_open_and_closed_and_see_it_everywhere(admin, jobs, queue, broker_server):
    await jobs.EnqueueBatch(specs(queue, 3))
    forced = (await admin.UpdateQueue(apb.UpdateQueueRequest(
        queue=queue, force_breaker=apb.BREAKER_FORCE_OPEN))).queue.breaker
    assert forced.state == OPEN and forced.forced and forced.settings.probes == 1  # the defaults
    assert not (await jobs.Lease(jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=5))).jobs
    listed = {q.queue: q for q in (await admin.ListQueues(apb.ListQueuesRequest())).queues}
    assert listed[queue].breaker.state == OPEN
    stats = (await admin.Stats(apb.StatsRequest(queues=[queue]))).queues
    assert stats[0].breaker == OPEN
    _, samples = await scrape(broker_server.http_port)
    assert samples.get_value("broker_queue_breaker_state", queue=queue, state="open") == 1
    assert samples.get_value("broker_queue_breaker_state", queue=queue, state="closed") == 0
    dashboard = {q["queue"]: q for q in (await get_json(broker_server.http_port, "/api/queues"))["queues"]}
    assert dashboard[queue]["breaker"] == "open"

    held = (await admin.UpdateQueue(apb.UpdateQueueRequest(
        queue=queue, force_breaker=apb.BREAKER_FORCE_CLOSED))).queue.breaker
    assert held.state == CLOSED and held.forced
    got = await jobs.Lease(jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=5))
    assert len(got.jobs) == 3
    await jobs.Nack(jpb.NackRequest(items=[jpb.NackItem(lease=r, error="x") for r in refs(got.jobs)]))
    assert (await _breaker(admin, queue)).state == CLOSED  # held closed: failures do not open it
    auto = (await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, force_breaker=apb.BREAKER_FORCE_AUTO)))
    assert not auto.queue.breaker.forced
    gone = (await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, remove_breaker=True))).queue
    assert not gone.HasField("breaker")


@pytest.mark.parametrize("fields, field", [
    ({"breaker": apb.BreakerSettings(window_seconds=0)}, "breaker.window_seconds"),
    ({"breaker": apb.BreakerSettings(min_attempts=-1)}, "breaker.min_attempts"),
    ({"breaker": apb.BreakerSettings(failure_rate=1.5)}, "breaker.failure_rate"),
    ({"breaker": apb.BreakerSettings(cool_down_seconds=90_000)}, "breaker.cool_down_seconds"),
    ({"breaker": apb.BreakerSettings(probes=0)}, "breaker.probes"),
    ({"force_breaker": 42}, "force_breaker"),
    ({"remove_breaker": True, "force_breaker": apb.BREAKER_FORCE_OPEN}, "remove_breaker"),
    ({"breaker": apb.BreakerSettings(probes=2), "concurrency_limit": -1}, "concurrency_limit"),
])
async def test_bad_breaker_input_names_the_field_and_changes_nothing(admin, queue, db, fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, paused=True, **fields))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field + ":"), caught.value.details()
    for table, column in (("broker_queues", "name"), ("broker_queue_breakers", "queue"),
                          ("broker_breaker_events", "queue"), ("broker_queue_events", "queue")):
        assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", queue) == 0, table


async def test_the_breaker_command(queue, jobs, broker_server):
    from tests.e2e.test_cli_ops import broker_cli, rows

    target = broker_server.grpc_address
    code, out, err = await broker_cli("queues", "breaker", queue, "--window", "30", "--min-attempts", "5",
                                      "--failure-rate", "0.4", "--probes", "3", target=target)
    assert code == 0, err
    assert rows(out)[queue]["BREAKER"] == "closed" and "failure rate >= 0.4 over 30s" in out and "3 probe(s)" in out
    code, out, err = await broker_cli("queues", "breaker", queue, "open", target=target)
    assert code == 0 and rows(out)[queue]["BREAKER"] == "open,forced", err
    code, out, _ = await broker_cli("queues", "list", target=target)
    assert rows(out)[queue]["BREAKER"] == "open,forced"
    await jobs.EnqueueBatch(specs(queue, 1))
    code, out, _ = await broker_cli("stats", "--queue", queue, target=target)
    assert code == 0 and rows(out)[queue]["BREAKER"] == "open"
    code, out, _ = await broker_cli("queues", "breaker", queue, "auto", target=target)
    assert code == 0 and rows(out)[queue]["BREAKER"] == "closed"
    code, _, err = await broker_cli("queues", "breaker", queue, "--failure-rate", "2", target=target)
    assert code == 1 and "breaker.failure_rate" in err
    code, out, _ = await broker_cli("queues", "breaker", queue, "--remove", target=target)
    assert code == 0 and rows(out)[queue]["BREAKER"] == "-"


async def test_a_queues_retry_policy_is_set_at_run_time_and_used_for_new_jobs(admin, jobs, queue, db):
    policy = apb.QueueRetry(max_attempts=4, initial_delay_seconds=3, multiplier=5, jitter=job_pb2.JITTER_NONE)
    made = (await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, retry=policy))).queue
    assert made.retry == policy and not made.HasField("breaker")
    assert (await admin.GetQueue(apb.GetQueueRequest(queue=queue))).queue.retry == policy
    (result,) = (await jobs.EnqueueBatch(specs(queue, 1))).results
    job_id = result.job_id
    row = await db.fetchrow("SELECT max_attempts, retry_initial, retry_multiplier, retry_jitter FROM broker_jobs "
                            "WHERE id = $1::uuid", job_id)
    assert tuple(row) == (4, 3.0, 5.0, "none")
    # The SQL function too (on a queue of its own: no broker logs what it enqueues).
    in_sql_queue = queue + "-sql"
    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=in_sql_queue, retry=policy))
    in_sql = await db.fetchval("SELECT broker_enqueue($1, 'k')::text", in_sql_queue)
    row = await db.fetchrow("SELECT max_attempts, retry_initial, retry_multiplier, retry_jitter FROM broker_jobs "
                            "WHERE id = $1::uuid", in_sql)
    assert tuple(row) == (4, 3.0, 5.0, "none")
    reset = (await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, reset_retry=True))).queue
    assert not reset.HasField("retry")
    assert await db.fetchval("SELECT count(*) FROM broker_queue_defaults WHERE queue = $1", queue) == 0


@pytest.mark.parametrize("fields, field", [
    ({"retry": apb.QueueRetry(max_attempts=0)}, "retry.max_attempts"),
    ({"retry": apb.QueueRetry(multiplier=0.5)}, "retry.multiplier"),
    ({"retry": apb.QueueRetry(initial_delay_seconds=-1)}, "retry.initial_delay_seconds"),
    ({"retry": apb.QueueRetry(initial_delay_seconds=10, max_delay_seconds=5)}, "retry.max_delay_seconds"),
    ({"retry": apb.QueueRetry(jitter=9)}, "retry.jitter"),
    ({"retry": apb.QueueRetry(max_attempts=2), "reset_retry": True}, "reset_retry"),
    ({"retry": apb.QueueRetry(max_attempts=2), "breaker": apb.BreakerSettings(probes=0)}, "breaker.probes"),
])
async def test_bad_retry_input_names_the_field_and_changes_nothing(admin, queue, db, fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, paused=True, **fields))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field + ":"), caught.value.details()
    for table, column in (("broker_queues", "name"), ("broker_queue_retry", "queue"),
                          ("broker_queue_breakers", "queue")):
        assert await db.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", queue) == 0, table


async def test_the_retry_command(queue, broker_server):
    from tests.e2e.test_cli_ops import broker_cli

    target = broker_server.grpc_address
    code, out, err = await broker_cli("queues", "retry", queue, "--max-attempts", "3", "--jitter", "equal",
                                      target=target)
    assert code == 0, err
    assert f"retry of {queue}: max_attempts=3, jitter=equal" in out
    code, _, err = await broker_cli("queues", "retry", queue, "--multiplier", "0", target=target)
    assert code == 1 and "retry.multiplier" in err
    code, out, _ = await broker_cli("queues", "retry", queue, "--reset", target=target)
    assert code == 0 and "retry of" not in out
