"""`python -m bench.claim_micro`: the claim path alone, without gRPC. N workers run the broker's
own LeaseJobs (max_jobs 10, a long-poll wait of 1 s) on a PgJobStore and complete each batch in
one statement, in this process; a producer inserts 10 jobs every 10 ms (1,000 jobs/s) and
notifies, as Enqueue does, for `--seconds` ("steady"), or the workers drain a backlog of 20,000
("drain"). Claim coalescing off (the store's claim), on with 2 claimers (the default) and with 1.

Reported per run: claims of the database per job, Lease calls served per claim, CPU seconds per
1,000 jobs of this process (the broker's use case and store, plus the load generator, the same
in every arm) and of PostgreSQL, and for steady the pickup latency p50/p99 (insert to lease)."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import datetime, timezone

import asyncpg

from bench import env
from bench.pgcpu import PgCpu
from bench.stats import percentile
from broker.entities.lease import LeaseRef
from broker.entities.queue import Limits
from broker.entities.retry import RetryPolicy
from broker.infra.pg.listen import LocalNotifier
from broker.infra.pg.migrate import migrate
from broker.infra.pg.pool import create_pool
from broker.infra.pg.store import PgJobStore
from broker.infra.settings import DatabaseSettings
from broker.usecases.claim_coalesce import ClaimCoalescer, counted
from broker.usecases.lease import LeaseJobs, LeaseRequest
from broker.usecases.ports import NewJob

QUEUE, ARMS = "micro", {"off": 0, "on": 2, "on-1": 1}


class Clock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class Count:
    def __init__(self) -> None:
        self.claims = self.calls = 0

    def claimed(self, calls: int) -> None:
        self.claims += 1
        self.calls += calls

    def record(self, events) -> None:
        pass


def jobs(n: int, now: datetime) -> list[NewJob]:
    return [NewJob(queue=QUEUE, kind="k", payload=b"{}", headers={}, idempotency_key=None, priority=0, run_at=now,
                   max_attempts=3, retry=RetryPolicy(), lease_duration=30.0) for _ in range(n)]


async def worker(lease, store, name, stop, sent, picked, done) -> None:
    request = LeaseRequest((QUEUE,), name, 10, wait=1.0)
    while not stop.is_set():
        got = await lease(request)
        now = time.monotonic()
        picked += [now - sent[j.id] for j in got if j.id in sent]
        if got:
            await store.complete([LeaseRef(j.id, j.lease_token) for j in got], Clock().now())
            done.append(len(got))


async def produce(store, notifier, seconds: float, sent: dict) -> None:
    async def send() -> None:
        inserted, _ = await store.enqueue(jobs(10, Clock().now()), Clock().now())
        at = time.monotonic()
        sent.update((i.job_id, at) for i in inserted)
        notifier.notify([QUEUE])
    tasks, next_at = [], time.monotonic()
    for _ in range(int(seconds / 0.01)):
        tasks = [t for t in tasks if not t.done()]
        if len(tasks) >= 8:  # inserts in flight at most: a slow database is offered less
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        tasks.append(asyncio.create_task(send()))
        next_at += 0.01
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    await asyncio.gather(*tasks)


async def one_run(arm: str, shape: str, n: int, seconds: float) -> dict:
    async with env.fresh_database(f"micro_{arm}") as url:
        conn = await asyncpg.connect(url)
        await migrate(conn)
        pool = await create_pool(url, DatabaseSettings(url=url))
        store, notifier, count = PgJobStore(pool), LocalNotifier(), Count()
        claim = ClaimCoalescer(store, Clock(), notifier, count, ARMS[arm], 1000, count) if ARMS[arm] \
            else counted(store.claim, count)
        lease = LeaseJobs(store, Clock(), notifier, count, Limits(), claim=claim)
        total = 20_000 if shape == "drain" else int(seconds * 1000)
        if shape == "drain":
            for _ in range(total // 1000):
                await store.enqueue(jobs(1000, Clock().now()), Clock().now())
        stop, sent, picked, done = asyncio.Event(), {}, [], []
        pg = await PgCpu(url, [conn]).__aenter__()
        before = (time.process_time(), 0.0, time.monotonic())
        tasks = [asyncio.create_task(worker(lease, store, f"w{i}", stop, sent, picked, done)) for i in range(n)]
        if shape == "steady":
            await produce(store, notifier, seconds, sent)
        while sum(done) < total:
            await asyncio.sleep(0.01)
        after = (time.process_time(), (await pg.stop())["total"], time.monotonic())
        stop.set()
        notifier.close()
        await asyncio.gather(*tasks)
        await pool.close()
        await conn.close()
    row = {"arm": arm, "shape": shape, "workers": n, "jobs": total, "jobs_per_s": round(total / (after[2] - before[2])),
           "claims_per_job": round(count.claims / total, 3), "calls_per_claim": round(count.calls / count.claims, 2),
           "process_cpu_s_per_1k": round((after[0] - before[0]) / total * 1000, 3),
           "pg_cpu_s_per_1k": round(after[1] / total * 1000, 3)}
    if picked:
        ms = [p * 1000 for p in picked]
        row.update(pickup_p50_ms=round(percentile(ms, 50), 2), pickup_p99_ms=round(percentile(ms, 99), 2))
    return row


async def main(one_run, shapes: list[str], workers: list[int], seconds: float, arms: list[str]) -> None:
    for shape in shapes:
        for n in workers:
            for arm in arms:
                print(json.dumps(await one_run(arm, shape, n, seconds)), flush=True)


def cli(one_run, description: str) -> None:
    """Both A/B scripts' command line: every shape, worker count and arm, one JSON line each."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--shapes", default="steady,drain")
    parser.add_argument("--workers", default="8,32")
    parser.add_argument("--arms", default="off,on,on-1")
    parser.add_argument("--seconds", type=float, default=10.0)
    a = parser.parse_args()
    asyncio.run(main(one_run, a.shapes.split(","), [int(w) for w in a.workers.split(",")], a.seconds,
                     a.arms.split(",")))


if __name__ == "__main__":
    cli(one_run, __doc__.splitlines()[0])
