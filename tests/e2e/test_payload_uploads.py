"""Uploads of large payloads through the real server and a real S3-compatible server: a
multipart upload by pre-signed part URLs, a client-streamed upload through the broker (in parts,
with its size limit), and the roles (only producers make uploads)."""

from __future__ import annotations

import aiohttp
import grpc
import pytest

from broker.v1 import job_service_pb2 as pb
from broker.v1 import job_service_pb2_grpc
from tests.brokers import fresh_database, key_admin, running_broker
from tests.e2e.payload_helpers import http, sha, with_ref
from tests.e2e.helpers import lease

MIB = 1024 * 1024


def _messages(data: bytes, size: int = MIB, **first):
    for i in range(0, len(data), size):
        yield pb.UploadPayloadRequest(data=data[i:i + size], **(first if i == 0 else {}))


async def test_a_multipart_upload_by_presigned_part_urls_is_enqueued_and_read(storage_jobs, queue):
    data = bytes(range(251)) * (11 * MIB // 251)  # three parts of 5 MiB at most
    upload = await storage_jobs.CreateUpload(pb.CreateUploadRequest(size=len(data), sha256=sha(data), multipart=True))
    step = upload.part_size

    assert not upload.url and len(upload.part_urls) == 3 and step == 5 * MIB
    for n, url in enumerate(upload.part_urls):
        await http(url, "PUT", data[n * step:(n + 1) * step], {"content-type": "application/octet-stream"})
    complete = pb.CompleteUploadRequest(key=upload.payload_ref.key, upload_id=upload.upload_id)
    await storage_jobs.CompleteUpload(complete)
    await storage_jobs.CompleteUpload(complete)  # a repeat (the first answer lost) is OK too
    await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, upload.payload_ref)))
    [leased] = await lease(storage_jobs, queue)

    assert await http(leased.payload_url) == data


async def test_a_streamed_upload_goes_to_storage_in_parts_and_is_enqueued(storage_jobs, queue, s3_server, s3_bucket):
    data = bytes(range(256)) * (12 * MIB // 256)

    response = await storage_jobs.UploadPayload(_messages(data, sha256=sha(data)))
    ref = response.payload_ref
    await storage_jobs.Enqueue(pb.EnqueueRequest(job=with_ref(queue, ref)))
    [leased] = await lease(storage_jobs, queue)

    assert (ref.size, ref.sha256) == (len(data), sha(data))
    assert ref.key in s3_server.keys(s3_bucket)
    assert await http(leased.payload_url) == data


async def test_a_streamed_upload_whose_bytes_differ_from_the_declared_sha256_is_refused(storage_jobs, s3_server, s3_bucket):
    before = s3_server.keys(s3_bucket)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await storage_jobs.UploadPayload(_messages(b"abc" * 100, sha256="0" * 64))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("sha256")
    assert s3_server.keys(s3_bucket) == before


@pytest.fixture(scope="module")
async def limited_db(database_url):
    async with fresh_database(database_url) as url:
        yield url


@pytest.fixture(scope="module")
async def limited(limited_db, s3_server):
    """A broker with keys and a 6 MiB upload limit, on a bucket of its own."""
    bucket = s3_server.new_bucket()
    env = s3_server.env(bucket, BROKER_MAX_UPLOAD_BYTES=str(6 * MIB), BROKER_AUTH="true")
    async with running_broker(limited_db, **env) as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            async with key_admin(limited_db) as admin:
                tokens = {r: (await admin.create(f"t-{r}", r)).token for r in ("producer", "worker", "admin")}
            limited_http_port.append(broker.http_port)
            yield job_service_pb2_grpc.JobServiceStub(channel), tokens, bucket
            limited_http_port.clear()


limited_http_port: list[int] = []


def _as(tokens, role):
    return (("authorization", f"Bearer {tokens[role]}"),)


async def test_a_streamed_upload_over_the_limit_is_refused_and_nothing_is_kept(limited, s3_server):
    jobs, tokens, bucket = limited
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await jobs.UploadPayload(_messages(b"z" * (7 * MIB)), metadata=_as(tokens, "producer"))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("data") and "BROKER_MAX_UPLOAD_BYTES" in caught.value.details()
    assert s3_server.keys(bucket) == []
    assert s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("role, allowed", [("producer", True), ("admin", True), ("worker", False)])
async def test_only_producers_make_uploads(limited, role, allowed):
    jobs, tokens, _ = limited
    md = _as(tokens, role)
    calls = {
        "CreateUpload": jobs.CreateUpload(pb.CreateUploadRequest(size=3, sha256=sha(b"abc")), metadata=md),
        "UploadPayload": jobs.UploadPayload(_messages(b"abc"), metadata=md),
        "CompleteUpload": jobs.CompleteUpload(pb.CompleteUploadRequest(key="k", upload_id="u"), metadata=md),
    }
    for name, call in calls.items():
        try:
            await call
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as err:
            code = err.code()
        if allowed:
            assert code in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT), (name, code)
        else:
            assert code == grpc.StatusCode.PERMISSION_DENIED, (name, code)


async def test_a_worker_key_reads_the_payload_a_producer_uploaded(limited):
    jobs, tokens, _ = limited
    producer, worker = _as(tokens, "producer"), _as(tokens, "worker")
    data = b"for the worker " * 1000
    upload = await jobs.CreateUpload(pb.CreateUploadRequest(size=len(data), sha256=sha(data)), metadata=producer)
    await http(upload.url, "PUT", data, dict(upload.headers))
    await jobs.Enqueue(pb.EnqueueRequest(job=with_ref("role-q", upload.payload_ref)), metadata=producer)
    leased = await jobs.Lease(pb.LeaseRequest(queues=["role-q"], worker_id="w", max_jobs=1), metadata=worker)
    assert await http(leased.jobs[0].payload_url) == data


async def _form_post(tokens, role: str, data: bytes) -> int:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="f.bin", content_type="application/octet-stream")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{limited_http_port[0]}/v1/uploads", data=form,
                                headers={"Authorization": f"Bearer {tokens[role]}"}) as response:
            return response.status


async def test_a_form_upload_over_the_limit_is_413_and_nothing_is_kept(limited, s3_server):
    jobs, tokens, bucket = limited
    before = s3_server.keys(bucket)
    assert await _form_post(tokens, "producer", b"z" * (7 * MIB)) == 413
    assert s3_server.keys(bucket) == before
    assert s3_server.client().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("role, status", [("producer", 201), ("worker", 403)])
async def test_only_producers_upload_forms(limited, role, status):
    jobs, tokens, _ = limited
    assert await _form_post(tokens, role, b"abc") == status
