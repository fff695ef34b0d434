"""The SDK with large payloads against the real broker and a real S3-compatible server: a
producer uploads (pre-signed PUT, parts, or streamed through the broker) and enqueues the
reference; a worker's handler gets the bytes as if inline (prefetched and checked), or streams
them to a file; bytes that do not match their reference fail the attempt."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from broker_client import AsyncClient, Client, JobRequest, PayloadMismatch, PayloadRef, Worker
from broker_client.v1 import job_service_pb2 as pb
from broker_client.v1 import job_service_pb2_grpc
from broker_client.worker.context import JobContext

from .helpers import eventually, running

MIB = 1024 * 1024


def _data(n: int) -> bytes:
    return bytes(range(256)) * (n // 256) + b"!" * (n % 256)


@pytest.mark.parametrize("how", ["url", "multipart", "through_broker"])
async def test_an_upload_of_each_kind_reaches_the_worker_as_its_payload(storage_broker, queue, how):
    data = _data(6 * MIB + 17)
    seen: list[bytes] = []
    worker = Worker(queue, concurrency=1, poll_wait=1)

    @worker.handler("file")
    async def handle(ctx):
        seen.append(ctx.payload)

    async with AsyncClient(storage_broker.grpc_address) as client:
        ref = await client.upload(data, through_broker=how == "through_broker",
                                  multipart_over=MIB if how == "multipart" else 64 * MIB)
        await client.enqueue(queue, "file", ref)
    async with running(worker, storage_broker.grpc_address):
        await eventually(lambda: seen, timeout=30)

    assert ref == PayloadRef(ref.key, len(data), hashlib.sha256(data).hexdigest())
    assert seen == [data]


async def test_a_blocking_client_uploads_a_file_and_a_handler_streams_it_to_a_file(storage_broker, queue, tmp_path):
    source = tmp_path / "in.bin"
    source.write_bytes(_data(3 * MIB))
    saved = tmp_path / "out.bin"
    done: list[bool] = []
    worker = Worker(queue, concurrency=1, poll_wait=1, prefetch_payload_bytes=0)

    @worker.handler("file")
    def handle(ctx):  # a sync handler, in a thread
        done.append(ctx.payload == b"" and not ctx.payload_fetched)
        ctx.save_payload(saved)

    def produce() -> PayloadRef:
        with Client(storage_broker.grpc_address) as client:
            ref = client.upload(source)
            client.enqueue_job(JobRequest(queue, "file", ref))
            return ref

    await asyncio.to_thread(produce)
    async with running(worker, storage_broker.grpc_address):
        await eventually(lambda: saved.exists() and done, timeout=30)

    assert done == [True]
    assert saved.read_bytes() == source.read_bytes()


async def test_bytes_that_do_not_match_their_reference_raise(storage_jobs, queue):
    data = b"genuine bytes"
    upload = await storage_jobs.CreateUpload(pb.CreateUploadRequest(size=len(data), sha256=hashlib.sha256(data).hexdigest()))
    await asyncio.to_thread(_put, upload.url, data)
    await storage_jobs.Enqueue(pb.EnqueueRequest(job=JobRequest(queue, "file", PayloadRef.from_proto(upload.payload_ref)).to_spec()))
    leased = (await storage_jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=1))).jobs[0]
    ctx = JobContext.from_leased(leased)
    lying = JobContext.from_leased(leased)
    lying.payload_ref = PayloadRef(ctx.payload_ref.key, ctx.payload_ref.size, "0" * 64)

    assert await ctx.aread_payload() == data
    assert ctx.text() == "genuine bytes"
    with pytest.raises(PayloadMismatch):
        await lying.aread_payload()


def _put(url: str, data: bytes) -> None:
    from broker_client import payloads
    payloads.put(url, {"content-type": "application/octet-stream"}, data, len(data))
