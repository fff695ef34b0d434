"""The whole chain in a real server: request ids come back on every outcome and reach every
log line of the call; the access log and metrics see refusals by the inner stages; an
unexpected exception is INTERNAL with the request id and no trace."""

from __future__ import annotations

import io
import json
import logging

import grpc
import pytest

from broker.infra import logs
from broker.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc, job_service_pb2 as pb
from broker.v1 import job_service_pb2_grpc
from tests.brokers import fresh_database, running_broker
from tests.e2e.helpers import spec


@pytest.fixture
def log_lines():
    """Everything logged meanwhile, as the JSON lines `broker serve` would write."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logs.configure("INFO", "json", stream)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    root.handlers[:], _ = saved
    root.setLevel(saved[1])


@pytest.fixture(scope="module")
async def secured(database_url):
    async with fresh_database(database_url) as url, running_broker(url, BROKER_AUTH="true") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            yield broker, channel


async def test_request_id_round_trip_on_success_and_error(jobs, queue):
    call = jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)), metadata=(("x-request-id", "rid-ok-1"),))
    await call
    assert ("x-request-id", "rid-ok-1") in tuple(await call.trailing_metadata())
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await jobs.Enqueue(pb.EnqueueRequest(job=spec("bad queue")), metadata=(("x-request-id", "rid-bad-1"),))
    assert ("x-request-id", "rid-bad-1") in tuple(refused.value.trailing_metadata())
    made = await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue))).trailing_metadata()
    assert len(dict(made)["x-request-id"]) == 32  # made by the broker when the client sends none


async def test_every_log_line_of_a_call_carries_its_request_id(jobs, queue, log_lines):
    await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue)), metadata=(("x-request-id", "rid-log-7"),))
    lines = [line for line in log_lines() if line.get("request_id") == "rid-log-7"]
    by_logger = {line["logger"]: line for line in lines}
    assert {"broker.jobs", "broker.access"} <= set(by_logger)
    access = by_logger["broker.access"]
    assert access["method"] == "/broker.v1.JobService/Enqueue" and access["code"] == "OK"
    assert access["peer"].startswith("ipv") and access["duration_ms"] >= 0


async def test_refusals_by_inner_stages_are_logged_and_measured(secured, log_lines):
    broker, channel = secured
    jobs = job_service_pb2_grpc.JobServiceStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await jobs.Enqueue(pb.EnqueueRequest(job=spec("q")), metadata=(("x-request-id", "rid-unauth"),))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert ("x-request-id", "rid-unauth") in tuple(refused.value.trailing_metadata())
    [access] = [line for line in log_lines() if line.get("request_id") == "rid-unauth"]
    assert access["code"] == "UNAUTHENTICATED" and access["principal"] is None
    exposition = (await broker.metrics.render())[0].decode()
    assert ('broker_rpc_duration_seconds_count{code="UNAUTHENTICATED",method="/broker.v1.JobService/Enqueue"} 1.0'
            in exposition)


async def test_unexpected_exception_is_internal_with_request_id(database_url, log_lines):
    async with fresh_database(database_url) as url, running_broker(url) as broker:
        async def broken(*_args):
            raise RuntimeError("secret detail from deep inside")

        broker.store.get_with_history = broken  # what GetJob reads
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await admin.GetJob(apb.GetJobRequest(job_id="00000000-0000-0000-0000-000000000000"),
                                   metadata=(("x-request-id", "rid-boom"),))
    err = failed.value
    assert err.code() == grpc.StatusCode.INTERNAL
    assert err.details() == "internal error (request id rid-boom)"
    assert "secret" not in (err.debug_error_string() or "")
    [logged] = [line for line in log_lines() if line.get("request_id") == "rid-boom" and "exc" in line]
    assert "secret detail" in logged["exc"]
