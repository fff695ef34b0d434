"""Group commit against real PostgreSQL and gRPC: concurrent Enqueue calls share writes (the
metric says so), and each caller still gets exactly its own answer: its own job ids, one job per
idempotency key however the calls were grouped, its own validation error without failing its
neighbours, and the log lines of its jobs under its own request id. The event-log check of
tests/e2e/conftest.py runs after each test."""

from __future__ import annotations

import asyncio
import logging

import grpc
import pytest

from broker.v1 import job_service_pb2 as pb, job_service_pb2_grpc
from tests.brokers import running_broker
from tests.e2e.helpers import spec
from tests.e2e.observe import scrape

CALLS = 96


async def call(stub, request, rid: str):
    try:
        return await stub.Enqueue(request, metadata=(("x-request-id", rid),))
    except grpc.aio.AioRpcError as exc:
        return exc


def requests(queue: str) -> list:
    out = []
    for i in range(CALLS):
        if i % 8 == 3:  # refused by validation, among good neighbours
            out.append(pb.EnqueueRequest(job=spec(queue, kind="")))
        elif i % 8 in (5, 6):  # two calls with one key, sent at the same moment
            out.append(pb.EnqueueRequest(job=spec(queue, kind=f"k{i}", idempotency_key=f"key-{i // 8}")))
        else:
            out.append(pb.EnqueueRequest(job=spec(queue, kind=f"k{i}")))
    return out


@pytest.mark.parametrize("writers", ["1", "2"])
async def test_concurrent_enqueues_share_writes_and_each_caller_gets_its_own_answer(
        database_url, db, queue, caplog, writers):
    caplog.set_level(logging.INFO, logger="broker.jobs")
    async with running_broker(database_url, BROKER_GROUP_COMMIT_WRITERS=writers) as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            await stub.Enqueue(pb.EnqueueRequest(job=spec(queue)))  # the channel is up
            _, before = await scrape(broker.http_port)
            answers = await asyncio.gather(*(call(stub, r, f"rid-{i}") for i, r in enumerate(requests(queue))))
            _, after = await scrape(broker.http_port)

    writes = after[("broker_enqueue_write_calls_count", frozenset())] - before[("broker_enqueue_write_calls_count", frozenset())]
    carried = after[("broker_enqueue_write_calls_sum", frozenset())] - before[("broker_enqueue_write_calls_sum", frozenset())]
    good = [i for i in range(CALLS) if i % 8 != 3]
    assert carried == len(good)  # every accepted call was written once
    assert writes < carried  # and some writes carried several calls

    for i in range(CALLS):
        if i % 8 == 3:
            assert answers[i].code() == grpc.StatusCode.INVALID_ARGUMENT and "job.kind" in answers[i].details()
    for group in range(CALLS // 8):
        five, six = answers[group * 8 + 5], answers[group * 8 + 6]
        assert five.job_id == six.job_id and sorted([five.created, six.created]) == [False, True]
    plain = {answers[i].job_id for i in good if i % 8 not in (5, 6)}
    assert len(plain) == len([i for i in good if i % 8 not in (5, 6)])

    stored = {r["id"]: r["kind"] for r in await db.fetch(
        "SELECT id::text, kind FROM broker_jobs WHERE queue = $1", queue)}
    assert len(stored) == 1 + len(plain) + CALLS // 8
    for i in good:
        if i % 8 not in (5, 6):
            assert stored[answers[i].job_id] == f"k{i}"  # each caller got the id of its own job

    # The log line of each created job carries the request id of the call that created it.
    created_by = {answers[i].job_id: f"rid-{i}" for i in good if answers[i].created}
    seen = {}
    for record in caplog.records:
        for entry in getattr(record, "entries", ()):
            if entry["queue"] == queue and entry["reason"] == "enqueue":
                seen[entry["job_id"]] = record.request_id
    assert {job: seen[job] for job in created_by} == created_by
