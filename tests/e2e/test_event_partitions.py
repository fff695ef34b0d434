"""A running broker across the event log's partition boundaries (infra/pg/partitions.py): a job
enqueued and leased in one partition and acked in the next keeps its whole history (GetJob), the
per-minute throughput counts both sides, and the pruner drops the partitions past the retention
with the events of the jobs it pruned. Time moves with the session broker's clock."""

from __future__ import annotations

from datetime import timedelta

from broker.infra.pg.store import PgJobStore
from broker.v1 import admin_service_pb2 as apb
from tests.e2e.helpers import ack, duration, enqueue, lease

WIDTH = 3600  # the session broker's: a quarter of its 24 h retention, at most an hour


async def partition_of(db, job_id: str, reason: str) -> str:
    return await db.fetchval("SELECT tableoid::regclass::text FROM broker_events WHERE job_id = $1::uuid "
                             "AND reason = $2", job_id, reason)


async def test_a_job_keeps_its_history_across_a_partition_boundary_until_it_is_pruned(
        jobs, admin, db, queue, clock, broker_server):
    await broker_server.pruner.run_once()  # the partitions ahead of now
    clock.advance(WIDTH)  # into one of them (now itself may still be the default partition's)
    await broker_server.pruner.run_once()
    [job_id] = await enqueue(jobs, queue)
    [leased] = await lease(jobs, queue, lease_duration=duration(6 * 3600))
    clock.advance(WIDTH + 1)  # into the next partition (made ahead)
    await broker_server.pruner.run_once()
    await ack(jobs, leased)

    history = (await admin.GetJob(apb.GetJobRequest(job_id=job_id))).events
    assert [e.reason for e in history] == ["enqueue", "lease", "ack"]
    lease_part, ack_part = await partition_of(db, job_id, "lease"), await partition_of(db, job_id, "ack")
    assert lease_part != ack_part and "broker_events_kept" not in (lease_part, ack_part)

    now = clock.now()  # the dashboard's per-minute counts read both partitions
    minutes = await PgJobStore(db).throughput([queue], now - timedelta(hours=3), now)
    assert sum(m.counts.enqueued for m in minutes) == 1 and sum(m.counts.succeeded for m in minutes) == 1

    # Past the retention and one more partition: the job is pruned, the partitions of its events dropped.
    clock.advance(24 * 3600 + WIDTH + 1)
    await broker_server.pruner.run_once()
    assert (await db.fetchval("SELECT count(*) FROM broker_jobs WHERE id = $1::uuid", job_id)) == 0
    assert (await db.fetchval("SELECT count(*) FROM broker_events WHERE job_id = $1::uuid", job_id)) == 0
    tables = {r[0] for r in await db.fetch("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                                           "WHERE i.inhparent = 'broker_events'::regclass")}
    assert lease_part not in tables and ack_part not in tables
