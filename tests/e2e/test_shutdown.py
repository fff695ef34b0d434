"""Graceful shutdown of a real `broker serve` process on SIGTERM, under load: health goes
NOT_SERVING first, waiting long polls return empty at once, in-flight RPCs finish, every
acknowledged enqueue is in the database, no lease is handed out after the signal, exit 0."""

from __future__ import annotations

import asyncio
import json
import pathlib
import signal
import time
import urllib.request
import uuid
from datetime import datetime, timedelta

import asyncpg
import grpc
import pytest

from broker.v1 import job_service_pb2 as pb, job_service_pb2_grpc
from tests.e2e.helpers import duration, enqueue, lease, ref, spec
from tests.support import spawn_broker

pytestmark = pytest.mark.slow
SIGNAL_LINE = "signal received: shutting down gracefully"


class Load:
    """Producers, workers and long polls hammering the broker until it goes away."""

    def __init__(self, jobs, run: str) -> None:
        self.jobs, self.run = jobs, run
        self.acknowledged: list[str] = []
        self.errors: list[tuple[float, grpc.StatusCode]] = []  # (when, code)
        self.leased = 0
        self.long_polls: list[tuple[float, int]] = []  # (when it returned, jobs it got)

    async def produce(self, n: int) -> None:
        for i in range(10_000):
            batch = [spec(f"{self.run}-made", idempotency_key=f"{n}-{i}-{k}") for k in range(10)]
            try:
                reply = await self.jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=batch), timeout=10)
            except grpc.aio.AioRpcError as err:
                self.errors.append((time.monotonic(), err.code()))
                return
            self.acknowledged += [r.job_id for r in reply.results]

    async def work(self) -> None:
        while True:
            try:
                reply = await self.jobs.Lease(pb.LeaseRequest(queues=[f"{self.run}-work"], worker_id="w",
                                                              max_jobs=5), timeout=10)
            except grpc.aio.AioRpcError as err:
                self.errors.append((time.monotonic(), err.code()))
                return
            self.leased += len(reply.jobs)

    async def long_poll(self) -> None:
        try:
            reply = await self.jobs.Lease(pb.LeaseRequest(queues=[f"{self.run}-idle"], worker_id="w",
                                                          max_jobs=1, wait=duration(30)), timeout=40)
        except grpc.aio.AioRpcError as err:
            self.errors.append((time.monotonic(), err.code()))
            return
        self.long_polls.append((time.monotonic(), len(reply.jobs)))


def _healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
            return r.status
    except urllib.error.HTTPError as err:
        return err.code
    except OSError:
        return 0  # gone


def _signal_time(log_path) -> datetime:
    for line in log_path.read_text().splitlines():
        if line.startswith("{") and json.loads(line).get("msg") == SIGNAL_LINE:
            return datetime.fromisoformat(json.loads(line)["ts"])
    raise AssertionError(f"no {SIGNAL_LINE!r} in the broker's log")


async def test_sigterm_under_load(own_database):
    run = f"sd-{uuid.uuid4().hex[:8]}"
    env = {"BROKER_LOG_LEVEL": "INFO", "BROKER_ACCESS_LOG": "false", "BROKER_SHUTDOWN_GRACE": "8",
           "BROKER_MIGRATE": "false"}
    locker = await asyncpg.connect(own_database)
    try:
        with spawn_broker(own_database, env=env) as broker:
            log_path = pathlib.Path(broker.log_path)
            async with grpc.aio.insecure_channel(broker.address) as channel:
                load = Load(job_service_pb2_grpc.JobServiceStub(channel), run)
                code, signalled, statuses = await _shut_down_under_load(broker, load, locker)
        stored = await locker.fetch("SELECT id::text FROM broker_jobs WHERE id = ANY($1::uuid[])",
                                    load.acknowledged)
        last_lease = await locker.fetchval(
            "SELECT max(at) FROM broker_events WHERE to_state = 'running' AND queue = $1", f"{run}-work")
    finally:
        await locker.close()
    assert code == 0
    assert statuses and set(statuses) == {503}, statuses  # NOT_SERVING while an Ack was in flight

    assert [n for _, n in load.long_polls] == [0, 0, 0]
    assert all(at - signalled < 2.0 for at, _ in load.long_polls)  # not the 30 s they asked for
    # Calls made after the signal are refused: UNAVAILABLE once the port is closed, or CANCELLED
    # by gRPC's core for a call that reached the server just as it stopped accepting (never run).
    assert all(at > signalled for at, _ in load.errors), (signalled, load.errors)
    assert {code for _, code in load.errors} <= {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}

    assert len(stored) == len(load.acknowledged) > 0

    began = _signal_time(log_path)
    # The log's timestamp is cut to the millisecond; a lease before the signal is at most 1 ms later.
    assert last_lease < began + timedelta(milliseconds=1), (last_lease, began)
    assert "broker stopped" in log_path.read_text()


async def _shut_down_under_load(broker, load: Load, locker) -> tuple[int, float, list[int]]:
    jobs, run = load.jobs, load.run
    await enqueue(jobs, f"{run}-work", 1000)
    # One Ack kept in flight across the signal: the test holds the job's row lock meanwhile.
    await enqueue(jobs, f"{run}-slow")
    [slow] = await lease(jobs, f"{run}-slow")
    tx = locker.transaction()
    await tx.start()
    await locker.execute("SELECT 1 FROM broker_jobs WHERE id = $1 FOR UPDATE", slow.job.id)
    in_flight = asyncio.ensure_future(jobs.Ack(pb.AckRequest(leases=[ref(slow)]), timeout=30))
    tasks = ([asyncio.ensure_future(load.produce(n)) for n in range(3)]
             + [asyncio.ensure_future(load.work()) for _ in range(2)]
             + [asyncio.ensure_future(load.long_poll()) for _ in range(3)])
    await asyncio.sleep(0.7)
    assert load.acknowledged and load.leased and not load.errors and not in_flight.done()

    broker.process.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    statuses = []
    while time.monotonic() - signalled < 1.0:
        statuses.append(await asyncio.to_thread(_healthz, broker.http_port))
        await asyncio.sleep(0.05)
    assert not in_flight.done()
    await tx.rollback()
    assert (await asyncio.wait_for(in_flight, 10)).results[0].outcome == pb.LEASE_OUTCOME_OK
    code = await asyncio.to_thread(broker.process.wait, 20)
    await asyncio.wait_for(asyncio.gather(*tasks), 20)
    return code, signalled, statuses
