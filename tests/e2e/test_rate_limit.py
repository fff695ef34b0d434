"""Rate limits through the real server: RESOURCE_EXHAUSTED with RetryInfo, exact under
concurrent calls, and honoured by the Python SDK."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from broker.v1 import job_service_pb2 as pb, job_service_pb2_grpc
from tests.brokers import fresh_database, running_broker
from tests.e2e.helpers import spec

# Nearly no refill during a test: the burst is all there is.
LIMITS = "enqueue=0.001/5,lease=1000/1000"


@pytest.fixture(scope="module")
async def limited(database_url):
    async with fresh_database(database_url) as url, running_broker(url, BROKER_RATE_LIMITS=LIMITS) as broker:
        yield broker


async def test_exhausted_bucket_answers_with_retry_info(limited, queue):
    async with grpc.aio.insecure_channel(limited.grpc_address) as channel:
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        outcomes = await asyncio.gather(*(_enqueue(jobs, queue) for _ in range(40)), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert sum(1 for o in outcomes if o == "ok") == 5 and len(refused) == 35
    err = refused[0]
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "enqueue" in err.details()
    status = rpc_status.from_call(err)
    info = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(info)
    assert 900 < info.retry_delay.ToMilliseconds() <= 1000_000  # ~1000 s at 0.001/s
    assert dict(err.trailing_metadata()).get("x-request-id")


async def test_other_classes_keep_their_own_buckets(limited, queue):
    async with grpc.aio.insecure_channel(limited.grpc_address) as channel:
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        reply = await jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=1))
    assert list(reply.jobs) == []


async def _enqueue(jobs, queue):
    await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)))
    return "ok"


async def test_the_sdk_waits_exactly_as_long_as_retry_info_says(database_url, queue):
    client_mod = pytest.importorskip("broker_client")
    from broker_client.options import CallRetry

    async with fresh_database(database_url) as url, running_broker(url, BROKER_RATE_LIMITS="enqueue=0.5/1") as broker:
        slept = []

        def sleep(seconds):
            slept.append(seconds)
            import time
            time.sleep(seconds)

        with client_mod.Client(broker.grpc_address, retry=CallRetry(max_attempts=3), sleep=sleep) as client:
            first = await asyncio.to_thread(client.enqueue, queue, "work", b"1")
            second = await asyncio.to_thread(client.enqueue, queue, "work", b"2")
    assert first.created and second.created
    # One token per 2 s: the SDK slept what RetryInfo said (its own backoff is 0.05-0.1 s, and
    # without a hint it would not retry RESOURCE_EXHAUSTED at all).
    assert len(slept) == 1 and 1.5 < slept[0] <= 2.0
