"""Rich error details from a real broker: INVALID_ARGUMENT carries a google.rpc.BadRequest naming
the field, FAILED_PRECONDITION a google.rpc.PreconditionFailure; grpcio-status decodes them from
the raw call, and the SDK exposes them on its exceptions (sync, asyncio, admin)."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from broker.v1 import job_service_pb2 as pb
from broker_client import (AsyncAdminClient, AsyncClient, Client, FailedPrecondition, FieldViolation,
                           InvalidRequest, JobRequest, PreconditionViolation)
from broker_client.retry_info import encode_retry_info
from broker_client.errors import from_rpc_error
from tests.e2e.helpers import ack, lease, spec


async def test_invalid_argument_carries_a_bad_request_on_the_wire(jobs):
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=[spec("fine"), spec("a b")]))
    status = rpc_status.from_call(raised.value)
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    [detail] = status.details
    bad = error_details_pb2.BadRequest()
    assert detail.Unpack(bad)
    [violation] = bad.field_violations
    assert violation.field == "jobs[1].queue" and "letters, digits" in violation.description
    assert raised.value.details() == f"{violation.field}: {violation.description}"


async def test_the_sdk_exposes_the_field_violations(broker_server):
    async with AsyncClient(broker_server.grpc_address) as client:
        with pytest.raises(InvalidRequest) as raised:
            await client.enqueue_batch([JobRequest("ok", "k", {}), JobRequest("ok", "k" * 200, {})])
    [violation] = raised.value.field_violations
    assert isinstance(violation, FieldViolation) and violation.field == "jobs[1].kind"
    assert raised.value.precondition_violations == ()

    def sync_enqueue() -> InvalidRequest:  # in a thread: the broker serves on this test's loop
        with Client(broker_server.grpc_address) as client, pytest.raises(InvalidRequest) as sync_raised:
            client.enqueue("a b", "k", {})
        return sync_raised.value

    assert [v.field for v in (await asyncio.to_thread(sync_enqueue)).field_violations] == ["job.queue"]


async def test_failed_precondition_carries_a_precondition_failure(broker_server, jobs, queue):
    await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)))
    [leased] = await lease(jobs, queue, 1)
    await ack(jobs, leased)
    async with AsyncAdminClient(broker_server.grpc_address) as admin:
        with pytest.raises(FailedPrecondition) as raised:
            await admin.cancel_job(leased.job.id)
    [violation] = raised.value.precondition_violations
    assert violation == PreconditionViolation("JOB_STATE", f"jobs/{leased.job.id}", str(violation.description))
    assert "cannot go from" in violation.description


def test_a_call_without_details_or_with_a_malformed_trailer_has_none():
    class Failed(grpc.RpcError):
        def __init__(self, trailers):
            self._trailers = trailers

        def code(self):
            return grpc.StatusCode.INVALID_ARGUMENT

        def details(self):
            return "x: bad"

        def trailing_metadata(self):
            return self._trailers

    for trailers in ((), (("grpc-status-details-bin", b"\xff\xff not a status"),),
                     (("grpc-status-details-bin", encode_retry_info(1.0)),)):
        error = from_rpc_error(Failed(trailers))
        assert (error.field_violations, error.precondition_violations) == ((), ())
