"""broker_enqueue (migrations/0008_enqueue_function.sql): an application enqueues inside its own
transaction. The job exists if and only if the transaction commits, a long poll on a broker wakes
for it through NOTIFY, bad arguments are refused naming the field, keys are idempotent, and the
job gets what the Enqueue RPC would give it (the broker publishes its defaults and limits)."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import grpc
import psycopg
import pytest

from broker.entities.queue import Limits, QueueConfig, QueueDefaults
from broker.infra.pg import enqueue_settings
from broker.v1 import admin_service_pb2 as apb
from broker.v1 import job_service_pb2 as pb
from broker.v1 import admin_service_pb2_grpc, job_service_pb2_grpc
from tests.e2e.helpers import spec
from tests.support import spawn_broker


def _queue() -> str:
    return f"q-{uuid.uuid4().hex[:10]}"


async def _jobs(db, queue: str) -> int:
    return await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue)


async def test_a_rolled_back_transaction_leaves_no_job(db):
    queue = _queue()
    async with db.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        job_id = await conn.fetchval("SELECT broker_enqueue($1, 'work', '\\x01'::bytea)", queue)
        assert await conn.fetchval("SELECT state FROM broker_jobs WHERE id = $1", job_id) == "pending"
        await tx.rollback()
    assert await _jobs(db, queue) == 0
    assert await db.fetchval("SELECT count(*) FROM broker_events WHERE queue = $1", queue) == 0


async def test_a_repeated_idempotency_key_returns_the_existing_job(db):
    queue = _queue()
    first = await db.fetchval("SELECT broker_enqueue($1, 'work', idempotency_key => 'k1')", queue)
    again = await db.fetchval("SELECT broker_enqueue($1, 'other', payload => '\\x02', idempotency_key => 'k1')",
                              queue)
    other = await db.fetchval("SELECT broker_enqueue($1, 'work', idempotency_key => 'k2')", queue)
    assert again == first and other != first
    assert await _jobs(db, queue) == 2
    assert await db.fetchval("SELECT count(*) FROM broker_events WHERE job_id = $1", first) == 1


BAD = [
    ("queue", "broker_enqueue('', 'work')", "must not be empty"),
    ("queue", "broker_enqueue('no spaces', 'work')", "is not 1-128 characters"),
    ("queue", "broker_enqueue(repeat('q', 129), 'work')", "is not 1-128 characters"),
    ("kind", "broker_enqueue('{q}', '')", "must not be empty"),
    ("kind", "broker_enqueue('{q}', repeat('k', 129))", "at most 128"),
    ("payload", "broker_enqueue('{q}', 'work', payload => convert_to(repeat('x', 1048577), 'UTF8'))",
     "1048577 bytes is over the limit of 1048576 bytes"),
    ("headers", "broker_enqueue('{q}', 'work', headers => '[1]')", "JSON object of strings"),
    ("headers", "broker_enqueue('{q}', 'work', headers => '{{\"a\": 1}}')", "JSON object of strings"),
    ("headers", "broker_enqueue('{q}', 'work', headers => jsonb_build_object('h', repeat('v', 65536)))",
     "over the limit of 65536 bytes"),
    ("idempotency_key", "broker_enqueue('{q}', 'work', idempotency_key => repeat('k', 257))", "at most 256"),
    ("max_attempts", "broker_enqueue('{q}', 'work', max_attempts => 0)", "0 is outside 1 to 1000"),
    ("max_attempts", "broker_enqueue('{q}', 'work', max_attempts => 1001)", "1001 is outside 1 to 1000"),
    ("lease_duration", "broker_enqueue('{q}', 'work', lease_duration => 0.5)", "outside 1s to 43200s"),
    ("lease_duration", "broker_enqueue('{q}', 'work', lease_duration => 'NaN')", "outside"),
    ("max_lease_expiries", "broker_enqueue('{q}', 'work', max_lease_expiries => -1)", "outside 1 to 1000"),
    ("retry_initial", "broker_enqueue('{q}', 'work', retry_initial => -1)", "must be 0 to"),
    ("retry_max", "broker_enqueue('{q}', 'work', retry_initial => 10, retry_max => 5)", "at least retry_initial"),
    ("retry_multiplier", "broker_enqueue('{q}', 'work', retry_multiplier => 0.5)", "between 1 and 1000"),
    ("retry_jitter", "broker_enqueue('{q}', 'work', retry_jitter => 'some')", "not none, full or equal"),
]


@pytest.mark.parametrize("field, call, problem", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
async def test_bad_arguments_are_refused_naming_the_field_and_create_nothing(db, field, call, problem):
    queue = _queue()
    with pytest.raises(asyncpg.InvalidParameterValueError) as caught:
        await db.fetchval("SELECT " + call.format(q=queue))
    assert caught.value.column_name == field
    assert str(caught.value).startswith(f"broker_enqueue: {field}: ") and problem in str(caught.value)
    assert await _jobs(db, queue) == 0


async def test_the_migration_holds_the_built_in_defaults_until_a_broker_publishes_its_own(own_database):
    conn = await asyncpg.connect(own_database)
    try:
        [row] = await conn.fetch("SELECT * FROM broker_queue_defaults")
        limits = await conn.fetchrow("SELECT * FROM broker_enqueue_limits")
    finally:
        await conn.close()
    d, lim = QueueDefaults(), Limits()
    assert tuple(row) == enqueue_settings._row("*", d)
    assert {k: v for k, v in dict(limits).items() if k != "only_row"} == {
        k: getattr(lim, k) for k in ("max_queue_name_length", "max_payload_bytes", "max_headers_bytes",
                                     "max_kind_length", "max_key_length", "min_lease", "max_lease", "max_attempts")}


async def test_published_limits_and_queue_defaults_are_the_ones_the_function_applies(own_database):
    pool = await asyncpg.create_pool(own_database, min_size=1, max_size=1)
    try:
        slow = QueueDefaults(max_attempts=3, lease_duration=90.0)
        await enqueue_settings.publish(pool, QueueConfig(QueueDefaults(max_attempts=7), {"slow": slow}),
                                       Limits(max_payload_bytes=4, max_attempts=50))
        with pytest.raises(asyncpg.InvalidParameterValueError, match="5 bytes is over the limit of 4 bytes"):
            await pool.fetchval("SELECT broker_enqueue('fast', 'work', payload => '\\x0102030405')")
        with pytest.raises(asyncpg.InvalidParameterValueError, match="51 is outside 1 to 50"):
            await pool.fetchval("SELECT broker_enqueue('fast', 'work', max_attempts => 51)")
        fast = await pool.fetchval("SELECT broker_enqueue('fast', 'work')")
        slow_id = await pool.fetchval("SELECT broker_enqueue('slow', 'work')")
        got = {r[0]: tuple(r[1:]) for r in await pool.fetch(
            "SELECT id, max_attempts, lease_duration FROM broker_jobs")}
        assert got == {fast: (7, 30.0), slow_id: (3, 90.0)}
        await enqueue_settings.publish(pool, QueueConfig(), Limits())  # replaces every row
        assert await pool.fetchval("SELECT count(*) FROM broker_queue_defaults") == 1
    finally:
        await pool.close()


async def test_a_queues_run_time_retry_policy_is_published_over_the_settings_at_start_up(own_database):
    pool = await asyncpg.create_pool(own_database, min_size=1, max_size=1)
    try:
        await pool.execute("INSERT INTO broker_queue_retry (queue, max_attempts, multiplier, updated_at) "
                           "VALUES ('tuned', 4, 3, now())")
        await enqueue_settings.publish(pool, QueueConfig(QueueDefaults(max_attempts=7)), Limits())
        tuned = await pool.fetchval("SELECT broker_enqueue('tuned', 'work')")
        plain = await pool.fetchval("SELECT broker_enqueue('plain', 'work')")
        got = {r[0]: tuple(r[1:]) for r in await pool.fetch("SELECT id, max_attempts, retry_multiplier FROM broker_jobs")}
        assert got == {tuned: (4, 3.0), plain: (7, 2.0)}
    finally:
        await pool.close()


# The broker looks for ready jobs on its own only every hour: only a NOTIFY can wake its long poll.
DEAF = {"BROKER_LONG_POLL_RECHECK": "3600", "BROKER_REAPER_INTERVAL": "3600",
        "BROKER_DEFAULT_MAX_ATTEMPTS": "7", "BROKER_QUEUES": json.dumps({"slow": {"lease_duration": 45,
                                                                                  "retry_jitter": "none"}})}


def _comparable(job) -> dict:
    """What GetJob shows that does not differ between any two jobs of the same spec."""
    fields = {f.name: getattr(job, f.name) for f, _ in job.ListFields()}
    for name in ("id", "run_at", "created_at", "updated_at", "idempotency_key"):
        fields.pop(name, None)
    return fields


@pytest.mark.slow
async def test_a_committed_job_wakes_a_waiting_lease_and_gets_what_the_rpc_gives(own_database):
    queue = "slow"
    with spawn_broker(own_database, env=DEAF) as broker:
        app = await asyncpg.connect(own_database)  # the application's own connection
        async with grpc.aio.insecure_channel(broker.address) as channel:
            jobs, admin = job_service_pb2_grpc.JobServiceStub(channel), admin_service_pb2_grpc.AdminServiceStub(channel)
            await jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="warm-up", max_jobs=1))  # channel up
            waiting = asyncio.ensure_future(jobs.Lease(pb.LeaseRequest(
                queues=[queue], worker_id="waiter", max_jobs=1, wait={"seconds": 30})))
            await asyncio.sleep(0.3)
            async with app.transaction():
                job_id = await app.fetchval(
                    "SELECT broker_enqueue($1, 'work', payload => '\\x7b7d', headers => '{\"h\": \"v\"}', "
                    "priority => 3)", queue)
                await asyncio.sleep(0.3)
                assert not waiting.done()  # not before the commit
            [leased] = (await asyncio.wait_for(waiting, 10)).jobs
            assert leased.job.id == str(job_id)

            by_rpc = (await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue, headers={"h": "v"}, priority=3)))).job_id
            sql_job = (await admin.GetJob(apb.GetJobRequest(job_id=str(job_id))))
            rpc_job = (await admin.GetJob(apb.GetJobRequest(job_id=by_rpc))).job
            assert [(e.reason, e.from_state, e.to_state) for e in sql_job.events] == [
                ("enqueue", 0, 1), ("lease", 1, 2)]
            expected = _comparable(rpc_job) | {"state": 2, "attempt": 1, "worker_id": "waiter"}
            got = _comparable(sql_job.job)
            got.pop("lease_expires_at")
            assert got == expected
            assert rpc_job.max_attempts == 7 and rpc_job.lease_duration.seconds == 45  # the broker's settings
        await app.close()


async def test_the_readme_examples_with_psycopg(own_database):
    with psycopg.connect(own_database.replace("postgresql+asyncpg", "postgresql")) as conn:
        with conn.transaction():
            conn.execute("CREATE TABLE orders (id int PRIMARY KEY)")
        with conn.transaction():
            conn.execute("INSERT INTO orders VALUES (1)")
            job_id = conn.execute("SELECT broker_enqueue(%s, %s, payload => %s, idempotency_key => %s)",
                                  ("emails", "send_receipt", b'{"order": 1}', "order-1")).fetchone()[0]
        with pytest.raises(psycopg.errors.InvalidParameterValue, match="broker_enqueue: queue: "):
            conn.execute("SELECT broker_enqueue(%s, %s)", ("bad name", "x"))
        conn.rollback()
        assert conn.execute("SELECT queue, kind FROM broker_jobs WHERE id = %s", (job_id,)).fetchone() == (
            "emails", "send_receipt")
