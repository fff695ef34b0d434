"""The broker under test: a fresh database, `broker serve` in its own process, and the
bookkeeping the scenarios share (filling the queue, waiting for a drain, reading spans)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from dataclasses import dataclass

import asyncpg
import grpc

from bench import env, procs
from bench.payload import KIND, QUEUE, payload
from broker_client.v1 import job_pb2, job_service_pb2 as pb, job_service_pb2_grpc

# The broker runs with its defaults (JSON job log lines at INFO included); BENCH_BROKER_ENV
# adds settings, e.g. BENCH_BROKER_ENV="BROKER_LOG_LEVEL=warning BROKER_POOL_MAX=20".
EXTRA_ENV = dict(item.split("=", 1) for item in os.environ.get("BENCH_BROKER_ENV", "").split() if "=" in item)


@dataclass
class BrokerUnderTest:
    url: str
    broker: procs.BrokerChild
    conn: asyncpg.Connection
    channel: grpc.aio.Channel

    @property
    def address(self) -> str:
        return self.broker.address

    @property
    def stub(self) -> job_service_pb2_grpc.JobServiceStub:
        return job_service_pb2_grpc.JobServiceStub(self.channel)

    async def reset(self) -> None:
        """Empty the tables between runs (the broker keeps no state of its own)."""
        await self.conn.execute("TRUNCATE broker_jobs, broker_events")

    async def fill(self, n: int, in_flight: int = 4) -> None:
        """n ready jobs, enqueued through the broker in batches of 1,000, then ANALYZE."""
        requests = [batch_request(range(i, min(i + 1000, n))) for i in range(0, n, 1000)]
        await run_in_flight(self.stub.EnqueueBatch, requests, in_flight)
        await self.conn.execute("ANALYZE broker_jobs; ANALYZE broker_events")

    async def unfinished(self) -> bool:
        return await self.conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM broker_jobs WHERE state IN ('pending', 'running'))")

    async def wait_drained(self, timeout: float, poll: float = 0.05) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while await self.unfinished():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("the queue did not drain in time")
            await asyncio.sleep(poll)

    async def drain_span(self) -> dict:
        """Seconds from the first lease to the last ack (the broker's own event times), acks,
        and the jobs per Lease and per Ack call (each call stamps its events with one time)."""
        row = await self.conn.fetchrow("""
            SELECT extract(epoch FROM max(at) FILTER (WHERE reason = 'ack')
                                   - min(at) FILTER (WHERE reason = 'lease')) AS span,
                   count(*) FILTER (WHERE reason = 'ack') AS acked,
                   count(DISTINCT at) FILTER (WHERE reason = 'lease') AS lease_calls,
                   count(DISTINCT at) FILTER (WHERE reason = 'ack') AS ack_calls
            FROM broker_events""")
        return {"span_s": float(row["span"]), "acked": row["acked"],
                "jobs_per_lease_call": round(row["acked"] / max(1, row["lease_calls"]), 1),
                "jobs_per_ack_call": round(row["acked"] / max(1, row["ack_calls"]), 1)}


def spec(n: int) -> job_pb2.JobSpec:
    return job_pb2.JobSpec(queue=QUEUE, kind=KIND, payload=payload(n))


def batch_request(numbers) -> pb.EnqueueBatchRequest:
    return pb.EnqueueBatchRequest(jobs=[spec(n) for n in numbers])


async def run_in_flight(method, requests: list, in_flight: int, latencies: list[float] | None = None) -> None:
    """Send the requests with at most `in_flight` outstanding; each call's seconds appended to
    `latencies` when given."""
    it = iter(requests)
    clock = time.perf_counter

    async def lane() -> None:
        for request in it:
            t = clock()
            await method(request, timeout=60)
            if latencies is not None:
                latencies.append(clock() - t)
    await asyncio.gather(*(lane() for _ in range(in_flight)))


@contextlib.asynccontextmanager
async def broker_under_test(label: str, keep_db: bool = False, env_extra: dict | None = None):
    async with env.fresh_database(label, keep_db) as url:
        broker = procs.BrokerChild(url, {**EXTRA_ENV, **(env_extra or {})})
        try:
            await asyncio.to_thread(broker.wait_healthy)
            conn = await asyncpg.connect(url)
            channel = grpc.aio.insecure_channel(broker.address)
            try:
                yield BrokerUnderTest(url, broker, conn, channel)
            finally:
                await channel.close()
                await conn.close()
        finally:
            broker.stop()


def sdk_workers(address: str, n: int, concurrency: int, *extra: str) -> list[procs.Child]:
    """n worker processes running the SDK's worker pool (see bench/proc/sdk_worker.py); with
    "--node" in `extra`, the Node SDK's (clients/node/bench/worker.ts; `make node-build`)."""
    if "--node" in extra:
        rest = [e for e in extra if e != "--node"]
        return [procs.Child(f"node-worker-{i}", ["node", "clients/node/dist/bench/worker.js", "--target", address,
                                                 "--queue", QUEUE, "--concurrency", str(concurrency), *rest])
                for i in range(n)]
    return [procs.Child.python(f"sdk-worker-{i}", "bench.proc.sdk_worker", "--target", address,
                               "--queue", QUEUE, "--concurrency", str(concurrency), *extra)
            for i in range(n)]


def worker_stats(workers: list[procs.Child]) -> dict:
    """The summed pool counters the stopped SDK workers printed (lease calls include empty ones)."""
    total: dict[str, int] = {}
    for w in workers:
        for line in w.output():
            if line.startswith("stats "):
                for k, v in json.loads(line[6:]).items():
                    total[k] = total.get(k, 0) + v
    return total
