"""The life of payload objects, against the real database and a real S3-compatible server: a
purged or pruned job's object is deleted; a dead job keeps its object; an upload no job came to
reference is deleted after BROKER_S3_UPLOAD_TTL; an object a live job references never is."""

from __future__ import annotations

from broker.v1 import admin_service_pb2 as apb
from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import ack, lease, nack
from tests.e2e.payload_helpers import uploaded, with_ref

DAY = 24 * 3600


async def _collect(broker) -> None:
    """Passes of the collector until one finds nothing (other tests' objects may be due too)."""
    while await broker.collector.run_once():
        pass


async def _enqueued(jobs, queue: str, data: bytes, n: int = 1):
    ref = await uploaded(jobs, data)
    await jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[with_ref(queue, ref)] * n))
    return ref


async def _dead(jobs, queue: str, n: int = 1) -> None:
    for leased in await lease(jobs, queue, n):
        await nack(jobs, leased, permanent=True)


async def test_a_purged_dead_jobs_object_is_deleted_and_a_dead_one_keeps_it(
        storage_jobs, storage_broker, queue, s3_server, s3_bucket, storage_clock, storage_admin):
    ref = await _enqueued(storage_jobs, queue, b"dead payload " * 100)
    await _dead(storage_jobs, queue)

    storage_clock.advance(2 * DAY)  # past the upload's own expiry and the retention
    await storage_broker.pruner.run_once()
    await _collect(storage_broker)
    kept = ref.key in s3_server.keys(s3_bucket)
    admin = storage_admin
    await admin.PurgeJobs(apb.PurgeJobsRequest(queue=queue))
    await _collect(storage_broker)

    assert kept
    assert ref.key not in s3_server.keys(s3_bucket)


async def test_a_pruned_jobs_object_is_deleted(storage_jobs, storage_broker, queue, s3_server, s3_bucket, storage_clock):
    ref = await _enqueued(storage_jobs, queue, b"done payload " * 100)
    await ack(storage_jobs, *(await lease(storage_jobs, queue)))
    await _collect(storage_broker)
    before = ref.key in s3_server.keys(s3_bucket)

    storage_clock.advance(DAY + 1)
    await storage_broker.pruner.run_once()
    await _collect(storage_broker)

    assert before and ref.key not in s3_server.keys(s3_bucket)


async def test_an_object_stays_while_any_job_references_it(
        storage_jobs, storage_broker, queue, s3_server, s3_bucket, storage_admin):
    ref = await _enqueued(storage_jobs, queue, b"shared " * 100, n=2)
    await _dead(storage_jobs, queue)  # one of the two
    admin = storage_admin
    await admin.PurgeJobs(apb.PurgeJobsRequest(queue=queue))
    await _collect(storage_broker)
    while_pending = ref.key in s3_server.keys(s3_bucket)

    await _dead(storage_jobs, queue)
    await admin.PurgeJobs(apb.PurgeJobsRequest(queue=queue))
    await _collect(storage_broker)

    assert while_pending and ref.key not in s3_server.keys(s3_bucket)


async def test_an_upload_never_enqueued_expires_and_is_deleted(storage_jobs, storage_broker, s3_server, s3_bucket, storage_clock, storage_db):
    ref = await uploaded(storage_jobs, b"orphan " * 100)
    await _collect(storage_broker)
    before = ref.key in s3_server.keys(s3_bucket)

    storage_clock.advance(DAY + 1)
    await _collect(storage_broker)

    assert before and ref.key not in s3_server.keys(s3_bucket)
    assert await storage_db.fetchval("SELECT count(*) FROM broker_payloads WHERE key = $1", ref.key) == 0


async def test_an_expired_upload_cannot_be_enqueued_once_collected(storage_jobs, storage_broker, queue, storage_clock, storage_db):
    ref = await uploaded(storage_jobs, b"late " * 100)
    storage_clock.advance(DAY + 1)
    await _collect(storage_broker)

    try:
        await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, ref)))
        code = None
    except Exception as err:  # noqa: BLE001 - asserted below
        code, details = err.code().name, err.details()
    assert code == "INVALID_ARGUMENT" and details.startswith("job.payload_ref.key")
    assert await storage_db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 0
