"""The worker's calls over a WorkerSession (broker_client.worker.session_rpc): one stream for all
calls against the real broker, errors shaped like a unary call's (RetryInfo included), a new
stream after the old one ended, and unary calls for a broker without sessions."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from broker.entities.job import JobState
from broker_client import AsyncClient, ConnectionOptions, JobRequest
from broker_client.channel import aio_channel
from broker_client.retry_info import retry_delay
from broker_client.v1 import job_service_pb2 as pb, job_service_pb2_grpc
from broker_client.worker.rpc import WorkerRpc
from broker_client.worker.call_failed import CallFailed, failure
from broker_client.worker.session_rpc import SessionRpc

from .memory_broker import serving


def session_rpc(address: str, queue: str) -> tuple[SessionRpc, grpc.aio.Channel]:
    options = ConnectionOptions(target=address, timeout=5)
    channel = aio_channel(options)
    stub = job_service_pb2_grpc.JobServiceStub(channel)
    unary = WorkerRpc(stub, options, "session-test-worker", [queue])
    return SessionRpc(unary, stub, options.call_metadata(), options.timeout), channel


async def test_all_calls_go_over_one_stream(broker_server, queue):
    async with AsyncClient(broker_server.address) as client:
        await client.enqueue_batch([JobRequest(queue=queue, kind="k") for _ in range(5)])
    rpc, channel = session_rpc(broker_server.address, queue)
    try:
        leased = await rpc.lease(5, 0)
        assert len(leased) == 5
        beats = await rpc.heartbeat([pb.LeaseRef(job_id=j.job.id, lease_token=j.lease_token) for j in leased])
        acks = await rpc.ack([(j.job.id, j.lease_token) for j in leased[:4]])
        nacks = await rpc.nack([pb.NackItem(lease=pb.LeaseRef(job_id=leased[4].job.id,
                                                              lease_token=leased[4].lease_token), error="e")])
        assert {r.outcome for r in [*beats, *acks, *nacks]} == {pb.LEASE_OUTCOME_OK}
        assert (rpc.opened, rpc.unary_only) == (1, False)
    finally:
        await rpc.close()
        await channel.close()


async def test_a_refused_call_raises_like_a_unary_call_and_the_session_goes_on(broker_server, queue):
    rpc, channel = session_rpc(broker_server.address, queue)
    try:
        with pytest.raises(grpc.RpcError) as refused:
            await rpc.ack([("not-a-job-id", "t")])
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "job_id" in refused.value.details()
        assert await rpc.lease(1, 0) == [] and rpc.opened == 1
    finally:
        await rpc.close()
        await channel.close()


def test_a_call_error_keeps_its_code_message_and_retry_delay():
    error = pb.CallError(code=grpc.StatusCode.RESOURCE_EXHAUSTED.value[0], message="settle: slow down")
    error.retry_delay.FromMilliseconds(2500)
    failed = failure(error)
    assert isinstance(failed, grpc.RpcError)
    assert (failed.code(), failed.details()) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "settle: slow down")
    assert retry_delay(failed.trailing_metadata()) == 2.5
    assert retry_delay(CallFailed(grpc.StatusCode.UNAVAILABLE, "gone").trailing_metadata()) is None


async def test_after_the_stream_ends_the_next_call_opens_a_new_one(broker_server, queue):
    rpc, channel = session_rpc(broker_server.address, queue)
    try:
        polling = asyncio.create_task(rpc.lease(1, 5))  # a long poll waits on the stream...
        await asyncio.sleep(0.2)
        rpc._call.cancel()  # ...when the stream breaks (a proxy, the network)
        with pytest.raises(grpc.RpcError):
            await polling
        assert await rpc.lease(1, 0) == [] and rpc.opened == 2
    finally:
        await rpc.close()
        await channel.close()


async def test_a_broker_without_sessions_gets_unary_calls():
    async with serving(sessions=False) as broker:
        rpc, channel = session_rpc(broker.address, "q")
        try:
            assert await rpc.lease(1, 0) == [] and rpc.unary_only
            async with AsyncClient(broker.address) as client:
                job_id = (await client.enqueue("q", "k")).job_id
            [leased] = await rpc.lease(1, 0)
            await rpc.ack([(leased.job.id, leased.lease_token)])
        finally:
            await rpc.close()
            await channel.close()
        assert broker.job(job_id).state == JobState.SUCCEEDED
        assert [len(broker.requests[name]) for name in ("Lease", "Ack")] == [2, 1]  # as unary calls


async def test_a_lease_given_up_on_is_stopped_on_the_broker(broker_server, queue):
    rpc, channel = session_rpc(broker_server.address, queue)
    try:
        polling = asyncio.create_task(rpc.lease(1, 5))
        await asyncio.sleep(0.2)
        polling.cancel()  # the worker shutting down
        with pytest.raises(asyncio.CancelledError):
            await polling
        await asyncio.sleep(0.2)
        async with AsyncClient(broker_server.address) as client:
            job_id = (await client.enqueue(queue, "k")).job_id
        await asyncio.sleep(0.3)  # a long poll still waiting would have claimed it by now
        [leased] = await rpc.lease(1, 0)
        assert leased.job.id == job_id
        await rpc.ack([(leased.job.id, leased.lease_token)])
    finally:
        await rpc.close()
        await channel.close()
