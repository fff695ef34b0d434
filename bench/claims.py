"""`python -m bench.claims`: claim coalescing, A/B in one run. N long-polling workers (unary
Lease with a wait, max_jobs 10, each batch acked in one call; asyncio tasks in this process)
take jobs from one queue, with claim coalescing off (BROKER_CLAIM_CLAIMERS=0), on (the default
2) and on with 1 claimer, in two shapes:

- steady: a producer offers 1,000 jobs/s (EnqueueBatch of 10 every 10 ms) for `--seconds`;
- drain: 5,000 ready jobs taken by the same workers.

Reported per run: claims of the database per job (broker_claim_calls _count over jobs acked)
and Lease calls served per claim (its _sum over its _count), broker and PostgreSQL CPU seconds
per 1,000 jobs, and for steady the pickup latency (the Enqueue's answer to the Lease's, p50/p99)."""

from __future__ import annotations

import asyncio
import re
import time
import urllib.request

from bench import claim_micro
from bench.broker_side import batch_request, broker_under_test
from bench.pgcpu import PgCpu
from bench.payload import QUEUE
from bench.stats import percentile
from broker_client.v1 import job_service_pb2 as pb
from google.protobuf.duration_pb2 import Duration

ARMS = {"off": "0", "on": "2", "on-1": "1", "on-8": "8", "uncapped": "1000"}
TICK, PER_TICK = 0.010, 10
MAX_SENDS = 16  # EnqueueBatch calls in flight at most


def _claims(http_port: int) -> tuple[float, float]:
    """broker_claim_calls (_count, _sum) as the broker exposes it now."""
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    found = dict(re.findall(r"^broker_claim_calls_(count|sum) ([0-9.e+]+)$", text, re.M))
    return float(found.get("count", 0)), float(found.get("sum", 0))


async def _worker(stub, name: str, stop: asyncio.Event, sent: dict, picked: list, acked: list) -> None:
    request = pb.LeaseRequest(queues=[QUEUE], worker_id=name, max_jobs=10, wait=Duration(seconds=1))
    while not stop.is_set():
        response = await stub.Lease(request, timeout=10)
        now = time.monotonic()
        if not response.jobs:
            continue
        for j in response.jobs:
            if j.job.id in sent:
                picked.append(now - sent[j.job.id])
        await stub.Ack(pb.AckRequest(leases=[pb.LeaseRef(job_id=j.job.id, lease_token=j.lease_token)
                                             for j in response.jobs]), timeout=10)
        acked.append(len(response.jobs))


async def _produce(stub, seconds: float, sent: dict) -> None:
    async def send(first: int) -> None:
        response = await stub.EnqueueBatch(batch_request(range(first, first + PER_TICK)), timeout=30)
        done = time.monotonic()
        for r in response.results:
            sent[r.job_id] = done
    tasks, next_at = [], time.monotonic()
    for i in range(int(seconds / TICK)):
        tasks = [t for t in tasks if not t.done()]
        if len(tasks) >= MAX_SENDS:  # a broker that falls behind is offered less, not flooded
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        tasks.append(asyncio.create_task(send(i * PER_TICK)))
        next_at += TICK
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await asyncio.gather(*tasks)


async def one_run(arm: str, shape: str, workers: int, seconds: float) -> dict:
    async with broker_under_test(f"claims_{arm}", env_extra={"BROKER_CLAIM_CLAIMERS": ARMS[arm]}) as but:
        if shape == "drain":
            await but.fill(5000)
        stub, stop, sent, picked, acked = but.stub, asyncio.Event(), {}, [], []
        pg = await PgCpu(but.url, [but.conn]).__aenter__()  # but.conn polls for the end: not the broker's
        before = (but.broker.cpu(), _claims(but.broker.http_port))
        t0 = time.monotonic()
        tasks = [asyncio.create_task(_worker(stub, f"w{i}", stop, sent, picked, acked)) for i in range(workers)]
        if shape == "steady":
            await _produce(stub, seconds, sent)
        await but.wait_drained(120)
        elapsed = time.monotonic() - t0
        after = (but.broker.cpu(), _claims(but.broker.http_port))
        pg_used = (await pg.stop())["total"]
        stop.set()
        await asyncio.gather(*tasks)
    jobs = sum(acked)
    claims, calls = after[1][0] - before[1][0], after[1][1] - before[1][1]
    row = {"arm": arm, "shape": shape, "workers": workers, "jobs": jobs, "jobs_per_s": round(jobs / elapsed),
           "claims_per_job": round(claims / jobs, 3), "calls_per_claim": round(calls / max(claims, 1), 2),
           "broker_cpu_s_per_1k": round((after[0] - before[0]) / jobs * 1000, 3),
           "pg_cpu_s_per_1k": round(pg_used / jobs * 1000, 3)}
    if picked:
        ms = sorted(p * 1000 for p in picked)
        row.update(pickup_p50_ms=round(percentile(ms, 50), 2), pickup_p99_ms=round(percentile(ms, 99), 2))
    return row


if __name__ == "__main__":
    claim_micro.cli(one_run, __doc__.splitlines()[0])
