"""Steady state: a producer offering a fixed rate (EnqueueBatch every 10 ms) while two SDK
worker processes (c=100) run the jobs. The queue depth should stay bounded and the pickup
latency flat: p99 of the first and last thirds of the run are reported side by side."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from bench import procs
from bench.baselines.common import read_records
from bench.broker_side import batch_request, broker_under_test, sdk_workers, worker_stats
from bench.profiles import Profile
from bench.results import Figure, Results
from bench.stats import percentile

TICK = 0.010


async def produce(stub, rate: int, seconds: float, sent: dict[str, float]) -> float:
    """One EnqueueBatch per tick, each in its own task so a slow call does not lower the rate."""
    per_tick = max(1, round(rate * TICK))
    ticks = int(seconds / TICK)

    async def send(first: int) -> None:
        response = await stub.EnqueueBatch(batch_request(range(first, first + per_tick)), timeout=30)
        done = time.monotonic()
        for r in response.results:
            sent[r.job_id] = done
    tasks = []
    next_at = t0 = time.monotonic()
    for i in range(ticks):
        tasks.append(asyncio.create_task(send(i * per_tick)))
        next_at += TICK
        await asyncio.sleep(max(0.0, next_at - time.monotonic()))
    elapsed = time.monotonic() - t0
    await asyncio.gather(*tasks)
    return ticks * per_tick / elapsed


async def sample_depth(conn, stop: asyncio.Event, depths: list[int]) -> None:
    while not stop.is_set():
        depths.append(await conn.fetchval("SELECT count(*) FROM broker_jobs WHERE state = 'pending'"))
        await asyncio.sleep(0.5)


async def one_run(but, profile: Profile) -> dict:
    await but.reset()
    fd, record = tempfile.mkstemp(prefix="bench-steady-", suffix=".txt")
    os.close(fd)
    workers = sdk_workers(but.address, 2, 100, "--record", record)
    sent: dict[str, float] = {}
    depths: list[int] = []
    try:
        await asyncio.to_thread(procs.start_all, workers)
        procs.go(workers)
        await asyncio.sleep(1.0)
        stop = asyncio.Event()
        sampler = asyncio.create_task(sample_depth(but.conn, stop, depths))
        cpu = but.broker.cpu()
        offered = await produce(but.stub, profile.steady_rate, profile.steady_seconds, sent)
        stop.set()
        await sampler
        deadline = time.monotonic() + 15
        while len(read_records(record)) < len(sent) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        used = but.broker.cpu() - cpu
    finally:
        await asyncio.to_thread(procs.stop_all, workers)
    pool = worker_stats(workers)
    starts = read_records(record)
    os.unlink(record)
    ordered = sorted((t, (starts[j][0] - t) * 1000) for j, t in sent.items() if j in starts)
    lat = [x for _, x in ordered]
    third = max(1, len(lat) // 3)
    return {"offered_jobs_per_s": offered, "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "p99_first_third_ms": percentile(lat[:third], 99), "p99_last_third_ms": percentile(lat[-third:], 99),
            "max_depth": max(depths, default=0), "last_depth": depths[-1] if depths else 0,
            "missing": len(sent) - len(lat), "broker_cpu_per_1k": used / max(1, len(sent)) * 1000,
            "lease_calls": pool.get("lease_calls"),
            "jobs_per_lease_call": round(pool.get("leased", 0) / max(1, pool.get("lease_calls", 0)), 2)}


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with broker_under_test("steady", keep_db) as but:
        runs = [await one_run(but, profile) for _ in range(profile.runs)]
    case = f"{profile.steady_rate}/s offered for {profile.steady_seconds:g} s, 2 SDK workers c=100"
    for metric, key, higher in (("offered jobs/s", "offered_jobs_per_s", True), ("p50 ms", "p50_ms", False),
                                ("p99 ms", "p99_ms", False), ("p99 first third ms", "p99_first_third_ms", False),
                                ("p99 last third ms", "p99_last_third_ms", False),
                                ("max queue depth", "max_depth", False),
                                ("broker CPU s/1k jobs", "broker_cpu_per_1k", False)):
        results.add(Figure("steady", "steady-" + key, "broker", case, metric, [r[key] for r in runs],
                           higher_is_better=higher, details=runs if key == "p99_ms" else []))
