"""Job results in the SDK: a handler's return value becomes the job's result (bytes as they are,
str as UTF-8, other values as JSON), sent with the ack over a session or unary calls; producers
get it with ``wait`` (or ``get_job``), which raises for dead and cancelled jobs and on timeout."""

from __future__ import annotations

import asyncio
import json

import pytest

from broker_client import (AsyncClient, Client, JobCancelled, JobFailed, PermanentError, WaitTimedOut,
                           Worker)
from broker_client.admin.records import JobState
from broker_client.results import ResultError, encode_result
from broker_client.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc
from broker_client.worker.rpc import ack_request

from .helpers import running
from .memory_broker import serving

RETURNS = {"dict": {"sum": 3, "items": [1, 2]}, "str": "héllo", "bytes": b"\x00\xff", "none": None}


def _worker(**kwargs) -> Worker:
    worker = Worker("results", poll_wait=1, flush_interval=0, **kwargs)
    for kind, value in RETURNS.items():
        worker.handler(kind)(lambda ctx, value=value: value)

    @worker.handler("broken")
    async def broken(ctx):
        raise PermanentError("the input is wrong")

    @worker.handler("unserialisable")
    async def unserialisable(ctx):
        return object()

    @worker.handler("huge")
    async def huge(ctx):
        return b"x" * 100

    return worker


@pytest.mark.parametrize("sessions", [True, False], ids=["session", "unary"])
async def test_a_handlers_return_value_is_the_result_wait_returns(sessions):
    async with serving(sessions=sessions) as broker, AsyncClient(broker.address) as client:
        ids = {kind: (await client.enqueue("results", kind)).job_id for kind in RETURNS}
        async with running(_worker(session=sessions), broker.address):
            got = {kind: await client.wait(job_id, timeout=10) for kind, job_id in ids.items()}
        job = await client.get_job(ids["dict"])
    assert got == {"dict": b'{"sum":3,"items":[1,2]}', "str": "héllo".encode(), "bytes": b"\x00\xff", "none": None}
    assert job.state is JobState.SUCCEEDED and job.result_json() == RETURNS["dict"]
    assert [len(a.items) for a in broker.requests["Ack"]]  # results went as items


async def test_a_dead_job_raises_its_last_error_and_a_bad_result_fails_for_good(memory_broker):
    async with AsyncClient(memory_broker.address) as client:
        broken = (await client.enqueue("results", "broken")).job_id
        bad = (await client.enqueue("results", "unserialisable")).job_id
        huge = (await client.enqueue("results", "huge")).job_id
        async with running(_worker(max_result_bytes=99), memory_broker.address):
            failures = []
            for job_id in (broken, bad, huge):
                with pytest.raises(JobFailed) as caught:
                    await client.wait(job_id, timeout=10)
                failures.append(caught.value)
    assert failures[0].job.id == broken and "PermanentError: the input is wrong" in failures[0].job.last_error
    assert "the input is wrong" in str(failures[0])
    assert "not JSON-serialisable" in failures[1].job.last_error and failures[1].job.attempt == 1
    assert "100 bytes; at most 99" in failures[2].job.last_error


async def test_a_cancelled_job_raises_and_an_unfinished_one_times_out(memory_broker):
    async with AsyncClient(memory_broker.address) as client:
        waiting = (await client.enqueue("nobody-works-here", "work")).job_id
        cancelled = (await client.enqueue("nobody-works-here", "work")).job_id
        with pytest.raises(WaitTimedOut) as timed_out:
            await client.wait(waiting, timeout=0.2)
        async with __import__("grpc").aio.insecure_channel(memory_broker.address) as channel:
            await admin_service_pb2_grpc.AdminServiceStub(channel).CancelJob(apb.CancelJobRequest(job_id=cancelled))
        with pytest.raises(JobCancelled):
            await client.wait(cancelled, timeout=5)
    assert isinstance(timed_out.value, TimeoutError) and timed_out.value.job.state is JobState.PENDING


async def test_the_blocking_client_waits_too(memory_broker):
    def produce() -> tuple[bytes | None, str]:
        with Client(memory_broker.address) as client:
            job_id = client.enqueue("results", "dict").job_id
            return client.wait(job_id, timeout=10), client.get_job(job_id).state.value

    async with running(_worker(), memory_broker.address):
        result, state = await asyncio.to_thread(produce)
    assert (json.loads(result), state) == (RETURNS["dict"], "succeeded")


def test_results_are_encoded_as_documented():
    assert encode_result(None) is None
    assert encode_result(b"raw") == b"raw" and encode_result(bytearray(b"ba")) == b"ba"
    assert encode_result("é") == "é".encode()
    assert encode_result({"a": [1, 2.5, None]}) == b'{"a":[1,2.5,null]}'
    assert encode_result(0) == b"0" and encode_result(False) == b"false"
    for bad in (object(), float("nan"), {1j: 2}):
        with pytest.raises(ResultError):
            encode_result(bad)
    with pytest.raises(ResultError, match="5 bytes; at most 4"):
        encode_result(b"12345", limit=4)


def test_acks_without_results_stay_plain_leases_for_any_broker():
    plain = ack_request([("a", "t1"), ("b", "t2", None)])
    assert [r.job_id for r in plain.leases] == ["a", "b"] and not plain.items
    mixed = ack_request([("a", "t1", None), ("b", "t2", b"r")])
    assert not mixed.leases
    assert [(i.lease.job_id, i.lease.lease_token, i.result) for i in mixed.items] == [("a", "t1", b""), ("b", "t2", b"r")]
