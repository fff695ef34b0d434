"""Large payloads through the real server and a real S3-compatible server (moto, over HTTP):
pre-signed uploads and the checks at Enqueue, a worker reading the object by its pre-signed GET,
automatic offload, and a broker without storage saying how to configure it."""

from __future__ import annotations

import logging

import grpc
import pytest

from broker.v1 import job_pb2
from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import lease, spec
from tests.e2e.observe import get_json, scrape
from tests.e2e.payload_helpers import http, put, sha, uploaded, with_ref


async def _count(pool, queue: str) -> int:
    return await pool.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue)


async def test_a_presigned_upload_is_enqueued_by_reference_and_a_worker_reads_it(storage_jobs, storage_broker, queue):
    data = bytes(range(256)) * 4096  # 1 MiB: over the inline limit
    ref = await uploaded(storage_jobs, data)

    created = await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, ref)))
    [leased] = await lease(storage_jobs, queue)

    assert created.created and leased.job.id == created.job_id
    assert leased.job.payload == b"" and leased.job.payload_ref == ref
    assert leased.payload_url and ref.key in leased.payload_url
    assert await http(leased.payload_url) == data
    detail = (await get_json(storage_broker.http_port, f"/api/jobs/{created.job_id}"))["job"]
    assert detail["payload_ref"] == {"key": ref.key, "size": ref.size, "sha256": ref.sha256}
    assert detail["payload_bytes"] == 0


async def test_a_reference_whose_bytes_differ_is_refused_and_nothing_is_enqueued(storage_jobs, queue, storage_db):
    declared = b"a" * 5000
    ref = await uploaded(storage_jobs, b"b" * 5000, declared=declared)  # same size, other bytes

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, ref)))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "job.payload_ref.sha256" in caught.value.details()
    assert await _count(storage_db, queue) == 0


async def test_a_reference_to_an_object_never_put_is_refused(storage_jobs, queue, storage_db):
    upload = await storage_jobs.CreateUpload(pb.CreateUploadRequest(size=10, sha256=sha(b"0123456789")))

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec(queue), with_ref(queue, upload.payload_ref)]))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "jobs[1].payload_ref.key" in caught.value.details()
    assert await _count(storage_db, queue) == 0


@pytest.mark.parametrize("change, field", [
    ({"key": "broker/uploads/not-one-of-ours"}, "job.payload_ref.key"),
    ({"size": 11}, "job.payload_ref.size"),
    ({"sha256": "0" * 64}, "job.payload_ref.sha256"),
    ({"sha256": "XYZ"}, "job.payload_ref.sha256"),
])
async def test_a_reference_that_is_not_what_was_uploaded_is_refused(storage_jobs, queue, storage_db, change, field):
    ref = await uploaded(storage_jobs, b"0123456789")
    wrong = job_pb2.PayloadRef(key=ref.key, size=ref.size, sha256=ref.sha256)
    for name, value in change.items():
        setattr(wrong, name, value)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, wrong)))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field)
    assert await _count(storage_db, queue) == 0


async def test_a_reference_with_inline_bytes_too_is_refused(storage_jobs, queue):
    ref = await uploaded(storage_jobs, b"0123456789")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, ref, payload=b"x")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("job.payload:")


async def test_an_inline_payload_over_the_threshold_is_offloaded_and_read_back(storage_jobs, queue, s3_server, s3_bucket):
    data = b"x" * 4096  # the test broker's threshold is 1 KiB
    small = b"y" * 1024

    await storage_jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec(queue, payload=data), spec(queue, payload=small)]))
    # Same priority and run_at: the lease order between the two is the ids'.
    small_job, big_job = sorted(await lease(storage_jobs, queue, 2), key=lambda j: j.job.HasField("payload_ref"))

    assert big_job.job.payload == b"" and big_job.job.payload_ref.size == 4096
    assert big_job.job.payload_ref.sha256 == sha(data)
    assert big_job.job.payload_ref.key in s3_server.keys(s3_bucket)
    assert await http(big_job.payload_url) == data
    assert small_job.job.payload == small and not small_job.job.HasField("payload_ref") and not small_job.payload_url


async def test_the_same_upload_may_back_several_jobs(storage_jobs, queue):
    ref = await uploaded(storage_jobs, b"shared bytes")
    response = await storage_jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[with_ref(queue, ref)] * 2))
    assert [r.created for r in response.results] == [True, True]


async def test_without_storage_a_large_payload_is_refused_saying_how_to_configure_it(jobs, queue, db):
    with pytest.raises(grpc.aio.AioRpcError) as big:
        await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue, payload=b"x" * (1024 * 1024 + 1))))
    with pytest.raises(grpc.aio.AioRpcError) as by_ref:
        await jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, job_pb2.PayloadRef(key="k", size=1, sha256="0" * 64))))
    with pytest.raises(grpc.aio.AioRpcError) as upload:
        await jobs.CreateUpload(pb.CreateUploadRequest(size=1, sha256="0" * 64))

    assert big.value.code() == by_ref.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "BROKER_S3_BUCKET" in big.value.details() and "BROKER_S3_BUCKET" in by_ref.value.details()
    assert by_ref.value.details().startswith("job.payload_ref")
    assert upload.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "BROKER_S3_BUCKET" in upload.value.details()
    assert await _count(db, queue) == 0


@pytest.mark.parametrize("request_fields, field", [
    ({"size": -1, "sha256": "0" * 64}, "size"),
    ({"size": 6 * 1024**3, "sha256": "0" * 64}, "size"),
    ({"size": 1, "sha256": "nothex"}, "sha256"),
])
async def test_a_bad_upload_request_is_refused_naming_the_field(storage_jobs, request_fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_jobs.CreateUpload(pb.CreateUploadRequest(**request_fields))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field)


async def test_no_log_line_carries_a_presigned_url(storage_jobs, queue, caplog):
    caplog.set_level(logging.DEBUG)  # every logger, the AWS SDK's included
    ref = await uploaded(storage_jobs, b"secret-bearing " * 100)
    await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, ref)))
    [leased] = await lease(storage_jobs, queue)
    await storage_jobs.UploadPayload(iter([pb.UploadPayloadRequest(data=b"streamed")]))

    signature = leased.payload_url.split("X-Amz-Signature=")[1]
    lines = [r.getMessage() + " " + str(vars(r)) for r in caplog.records]
    assert signature and lines
    assert not [line for line in lines if "X-Amz-Signature" in line or signature in line]


async def test_objects_are_counted_by_event(storage_jobs, storage_broker, queue):
    async def counts():
        _, m = await scrape(storage_broker.http_port)
        return {e: m.get_value("broker_payload_objects_total", event=e) or 0
                for e in ("created", "streamed", "offloaded")}

    before = await counts()
    await uploaded(storage_jobs, b"counted")
    await storage_jobs.UploadPayload(iter([pb.UploadPayloadRequest(data=b"streamed")]))
    await storage_jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec(queue, payload=b"x" * 2000)] * 3))
    after = await counts()

    assert {e: after[e] - before[e] for e in after} == {"created": 1, "streamed": 1, "offloaded": 3}
