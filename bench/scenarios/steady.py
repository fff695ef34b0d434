"""Steady state: a producer offering a fixed rate (EnqueueBatch every 10 ms) while two SDK
worker processes (c=100) run the jobs. The queue depth should stay bounded and the pickup
latency flat: p99 of the first and last thirds of the run are reported side by side. Also the
CPU per 1,000 jobs of the broker, of PostgreSQL (bench/pgcpu.py) and of the workers. The loop
is shared with PgQueuer's steady row (bench/baselines/pgqueuer_steady.py)."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

import grpc

from bench import procs
from bench.baselines.common import read_records
from bench.broker_side import batch_request, broker_under_test, sdk_workers, worker_stats
from bench.pgcpu import PgCpu, per_1k
from bench.profiles import Profile
from bench.results import Figure, Results
from bench.stats import percentile

TICK = 0.010
PENDING = "SELECT count(*) FROM broker_jobs WHERE state = 'pending'"


class Refused(Exception):
    """The system shed the call (the broker's RESOURCE_EXHAUSTED): counted, not retried."""


async def produce(send, rate: int, seconds: float, sent: dict[str, float]) -> tuple[float, int]:
    """One batch per tick, each in its own task so a slow call does not lower the rate;
    `send(first, count)` enqueues jobs first.. first+count-1 and returns their ids. Returns
    the rate offered and the jobs refused."""
    per_tick = max(1, round(rate * TICK))
    ticks = int(seconds / TICK)
    refused = [0]

    async def one(first: int) -> None:
        try:
            ids = await send(first, per_tick)
        except Refused:
            refused[0] += per_tick
            return
        done = time.monotonic()
        for job_id in ids:
            sent[str(job_id)] = done
    tasks = []
    next_at = t0 = time.monotonic()
    for i in range(ticks):
        tasks.append(asyncio.create_task(one(i * per_tick)))
        next_at += TICK
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    elapsed = time.monotonic() - t0
    await asyncio.gather(*tasks)
    return ticks * per_tick / elapsed, refused[0]


def broker_sender(stub):
    async def send(first: int, count: int) -> list[str]:
        try:
            response = await stub.EnqueueBatch(batch_request(range(first, first + count)), timeout=30)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise Refused() from exc
            raise
        return [r.job_id for r in response.results]
    return send


async def sample_depth(conn, sql: str, stop: asyncio.Event, depths: list[int]) -> None:
    while not stop.is_set():
        depths.append(await conn.fetchval(sql))
        await asyncio.sleep(0.5)


async def measure(url: str, conn, workers: list[procs.Child], send, depth_sql: str, record: str,
                  profile: Profile, others=()) -> dict:
    """Start the workers, let them reach their idle wait, offer the rate, wait (at most 15 s)
    until every job sent has started; CPU of the workers, of PostgreSQL and of `others`
    (processes with .cpu(), e.g. the broker) over that window. `conn` samples the depth."""
    sent: dict[str, float] = {}
    depths: list[int] = []
    await asyncio.to_thread(procs.start_all, workers)
    procs.go(workers)
    await asyncio.sleep(1.0)
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_depth(conn, depth_sql, stop, depths))
    before = [p.cpu() for p in (*workers, *others)]
    async with PgCpu(url, [conn]) as pg:
        try:
            offered, refused = await produce(send, profile.steady_rate, profile.steady_seconds, sent)
        finally:
            stop.set()
            await sampler
        deadline = time.monotonic() + 15
        while len(read_records(record)) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        used = [p.cpu() - b for p, b in zip((*workers, *others), before)]
        pg_used = await pg.stop()
    jobs = max(1, len(sent))
    return {"offered": offered, "refused": refused, "sent": sent, "depths": depths, **per_1k(pg_used, jobs),
            "workers_cpu_per_1k": sum(used[:len(workers)]) / jobs * 1000,
            "others_cpu_per_1k": sum(used[len(workers):]) / jobs * 1000}


def summarize(m: dict, record: str) -> dict:
    """Pickup latency (enqueue returned -> handler started) overall and by thirds, the depth
    and the CPU figures of one run."""
    starts = read_records(record)
    ordered = sorted((t, (starts[j][0] - t) * 1000) for j, t in m["sent"].items() if j in starts)
    lat = [x for _, x in ordered]
    third = max(1, len(lat) // 3)
    depths = m["depths"]
    return {"offered_jobs_per_s": m["offered"], "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "p99_first_third_ms": percentile(lat[:third], 99), "p99_last_third_ms": percentile(lat[-third:], 99),
            "max_depth": max(depths, default=0), "last_depth": depths[-1] if depths else 0,
            "missing": len(m["sent"]) - len(lat), "refused": m["refused"], "pg_cpu_per_1k": m["pg_cpu_per_1k"],
            "pg_autovacuum_cpu_per_1k": m["pg_autovacuum_cpu_per_1k"],
            "workers_cpu_per_1k": m["workers_cpu_per_1k"]}


def record_file() -> str:
    fd, record = tempfile.mkstemp(prefix="bench-steady-", suffix=".txt")
    os.close(fd)
    return record


async def one_run(but, profile: Profile) -> dict:
    await but.reset()
    record = record_file()
    workers = sdk_workers(but.address, 2, 100, "--record", record)
    try:
        m = await measure(but.url, but.conn, workers, broker_sender(but.stub), PENDING, record, profile,
                          others=[but.broker])
    finally:
        await asyncio.to_thread(procs.stop_all, workers)
    pool = worker_stats(workers)
    out = summarize(m, record)
    os.unlink(record)
    out["broker_cpu_per_1k"] = m["others_cpu_per_1k"]
    out["total_cpu_per_1k"] = out["broker_cpu_per_1k"] + out["pg_cpu_per_1k"] + out["workers_cpu_per_1k"]
    return {**out, "lease_calls": pool.get("lease_calls"),
            "jobs_per_lease_call": round(pool.get("leased", 0) / max(1, pool.get("lease_calls", 0)), 2)}


# (metric, key in a run's dict, higher is better); the broker's row adds its own CPU.
METRICS = (("offered jobs/s", "offered_jobs_per_s", True), ("p50 ms", "p50_ms", False),
           ("p99 ms", "p99_ms", False), ("p99 first third ms", "p99_first_third_ms", False),
           ("p99 last third ms", "p99_last_third_ms", False), ("max queue depth", "max_depth", False),
           ("jobs refused (shed load)", "refused", False), ("PostgreSQL CPU s/1k jobs", "pg_cpu_per_1k", False),
           ("workers CPU s/1k jobs", "workers_cpu_per_1k", False),
           ("CPU s/1k jobs, all tiers", "total_cpu_per_1k", False))
BROKER_ONLY = (("broker CPU s/1k jobs", "broker_cpu_per_1k", False),)


def add_figures(results: Results, system: str, case: str, runs: list[dict], metrics, role: str) -> None:
    for metric, key, higher in metrics:
        results.add(Figure("steady", "steady-" + key, system, case, metric, [r[key] for r in runs],
                           higher_is_better=higher, role=role, details=runs if key == "p99_ms" else []))


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with broker_under_test("steady", keep_db) as but:
        runs = [await one_run(but, profile) for _ in range(profile.runs)]
    case = f"{profile.steady_rate}/s offered for {profile.steady_seconds:g} s, 2 SDK workers c=100"
    add_figures(results, "broker", case, runs, METRICS[:-3] + BROKER_ONLY + METRICS[-3:], "subject")
