"""Coalesced settlement against real PostgreSQL and gRPC: concurrent Ack, Nack and Heartbeat calls
of many workers share writes (the metric says so), and each call still gets exactly the results
of its own leases: a stale token is LOST inside a shared statement while its neighbours succeed,
a repeated Ack is OK without a second change, a nack goes back to PENDING. The event-log check
of tests/e2e/conftest.py runs after each test. Each test has a database of its own: the session
broker's reaper, on the clock other tests move, would expire these brokers' leases."""

from __future__ import annotations

import asyncio

import asyncpg
import grpc
import pytest

from broker.v1 import job_pb2, job_service_pb2 as pb, job_service_pb2_grpc
from tests.brokers import running_broker
from tests.e2e.helpers import enqueue, lease, ref
from tests.e2e.observe import scrape

CALLS = 90


def carried(before: dict, after: dict, call: str) -> tuple[float, float]:
    """(writes, calls carried) of broker_settle_write_calls{call} between two scrapes."""
    label = frozenset({("call", call)})
    def delta(name: str) -> float:
        return after.get((name, label), 0) - before.get((name, label), 0)
    return delta("broker_settle_write_calls_count"), delta("broker_settle_write_calls_sum")


@pytest.mark.parametrize("writers", ["1", "2"])
async def test_concurrent_settling_calls_share_writes_and_stay_fenced(own_database, queue, writers):
    async with running_broker(own_database, BROKER_SETTLE_WRITERS=writers) as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            await enqueue(stub, queue, CALLS)
            held = await lease(stub, queue, CALLS)
            assert len(held) == CALLS
            _, before = await scrape(broker.http_port)

            def settle(i: int, leased):
                if i % 3 == 0:  # a nack of one's own lease
                    return stub.Nack(pb.NackRequest(items=[pb.NackItem(lease=ref(leased), error=f"e{i}")]))
                if i % 3 == 1:  # a heartbeat, then its ack below
                    return stub.Heartbeat(pb.HeartbeatRequest(leases=[ref(leased)]))
                stale = pb.LeaseRef(job_id=leased.job.id, lease_token="not-" + leased.lease_token)
                return stub.Ack(pb.AckRequest(leases=[stale, ref(leased)]))

            answers = await asyncio.gather(*(settle(i, leased) for i, leased in enumerate(held)))
            beats = [leased for i, leased in enumerate(held) if i % 3 == 1]
            acks = await asyncio.gather(*(stub.Ack(pb.AckRequest(leases=[ref(l), ref(l)])) for l in beats))
            _, after = await scrape(broker.http_port)

    ok, lost = pb.LEASE_OUTCOME_OK, pb.LEASE_OUTCOME_LOST
    for i, (leased, answer) in enumerate(zip(held, answers)):
        outcomes = [(r.job_id, r.outcome) for r in answer.results]
        if i % 3 == 2:  # the stale token lost inside the shared statement, the right one won
            assert outcomes == [(leased.job.id, lost), (leased.job.id, ok)]
        else:
            assert outcomes == [(leased.job.id, ok)]
    for leased, answer in zip(beats, acks):  # the same lease twice in one call: both OK, one change
        assert [(r.job_id, r.outcome) for r in answer.results] == [(leased.job.id, ok)] * 2

    db = await asyncpg.connect(own_database)
    try:
        states = {r["id"]: r["state"] for r in await db.fetch(
            "SELECT id::text, state FROM broker_jobs WHERE queue = $1", queue)}
        events = await db.fetch("SELECT reason, count(*) AS n FROM broker_events e JOIN broker_jobs j "
                                "ON j.id = e.job_id WHERE j.queue = $1 GROUP BY reason", queue)
    finally:
        await db.close()
    for i, leased in enumerate(held):
        assert states[leased.job.id] == ("pending" if i % 3 == 0 else "succeeded")
    assert {r["reason"]: r["n"] for r in events} == {"enqueue": CALLS, "lease": CALLS, "nack": CALLS // 3,
                                                     "ack": 2 * CALLS // 3}
    for call, count in (("nack", CALLS // 3), ("heartbeat", CALLS // 3)):
        writes, calls = carried(before, after, call)
        assert calls == count
    writes, calls = carried(before, after, "ack")
    assert calls == 2 * CALLS // 3
    total = [carried(before, after, c) for c in ("ack", "nack", "heartbeat")]
    assert sum(w for w, _ in total) < sum(c for _, c in total)  # some writes carried several calls


async def test_settlement_off_writes_each_call_alone(own_database, queue):
    async with running_broker(own_database, BROKER_SETTLE_WRITERS="0") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            await enqueue(stub, queue, 8)
            held = await lease(stub, queue, 8)
            answers = await asyncio.gather(*(stub.Ack(pb.AckRequest(leases=[ref(l)])) for l in held))
            _, metrics = await scrape(broker.http_port)
    assert all(a.results[0].outcome == pb.LEASE_OUTCOME_OK for a in answers)
    assert not any(name.startswith("broker_settle_write_calls_count") and value
                   for (name, _), value in metrics.items())
    assert job_pb2.JOB_STATE_SUCCEEDED == answers[0].results[0].state
