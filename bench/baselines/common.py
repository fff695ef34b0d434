"""Measurement loops every system shares: one-job enqueue rates and pickup latency."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from bench import procs
from bench.profiles import Profile
from bench.results import Figure, Results
from bench.stats import percentile

LATENCY_GAP = 0.010  # seconds between enqueues in the pickup-latency scenario


async def single_enqueue_rates(make_sender, total: int, in_flight: int,
                               latencies: list[float] | None = None) -> float:
    """Jobs/s enqueuing one job per call with `in_flight` calls outstanding; each call's
    seconds appended to `latencies` when given. `make_sender()` returns (send(n), close) for
    one connection or channel."""
    senders = [await make_sender() for _ in range(in_flight)]
    try:
        numbers = iter(range(total))
        clock = time.perf_counter

        async def lane(send) -> None:
            for n in numbers:
                t = clock()
                await send(n)
                if latencies is not None:
                    latencies.append(clock() - t)
        t0 = time.perf_counter()
        await asyncio.gather(*(lane(s) for s, _ in senders))
        return total / (time.perf_counter() - t0)
    finally:
        for _, close in senders:
            await close()


def latency_figures(results: Results, system: str, case: str, runs: list[list[float]], role: str) -> None:
    """p50 and p99 ms of one-job enqueue calls, per run (groups enqueue-1x64-p50/-p99)."""
    for q in (50, 99):
        results.add(Figure("enqueue", f"enqueue-1x64-p{q}", system, case, f"enqueue p{q} ms",
                           [percentile(r, q) * 1000 for r in runs],
                           higher_is_better=False, role=role))


def pg_cost_figure(results: Results, system: str, case: str, runs: list[dict], role: str) -> Figure:
    """A system's PostgreSQL CPU per 1,000 jobs drained (runs' `pg_cpu_per_1k`, bench/pgcpu.py)
    in the group of the broker's cost figure, so the table shows the ratio beside it."""
    return results.add(Figure("cost", "cost-pg_cpu_per_1k", system, case, "PostgreSQL CPU s/1k jobs",
                              [r["pg_cpu_per_1k"] for r in runs], higher_is_better=False, role=role))


def read_records(path: str) -> dict[str, tuple[float, float]]:
    """`<job id> <start> <end>` lines written by bench workers; the first start per job wins."""
    found: dict[str, tuple[float, float]] = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[0] not in found:
                    found[parts[0]] = (float(parts[1]), float(parts[2]))
    except FileNotFoundError:
        pass
    return found


async def pickup_latencies(setup, n: int) -> list[float]:
    """Milliseconds from the enqueue call returning to the handler starting, for n jobs sent
    LATENCY_GAP apart to idle workers. `setup(record_path)` returns (workers, send, close)."""
    fd, record = tempfile.mkstemp(prefix="bench-latency-", suffix=".txt")
    os.close(fd)
    workers, send, close = await setup(record)
    sent: dict[str, float] = {}
    try:
        next_at = time.monotonic()
        for i in range(n):
            job_id = await send(i)
            sent[str(job_id)] = time.monotonic()
            next_at += LATENCY_GAP
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        deadline = time.monotonic() + 10
        while len(read_records(record)) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await close()
        await asyncio.to_thread(procs.stop_all, workers)
    starts = read_records(record)
    os.unlink(record)
    return [(starts[j][0] - t) * 1000 for j, t in sent.items() if j in starts]


async def latency_run(results: Results, profile: Profile, system: str, setup, case: str = "1 worker, idle",
                      role: str = "peer") -> None:
    p50s, p99s, details = [], [], []
    for _ in range(profile.runs):
        lat = await pickup_latencies(setup, profile.latency_jobs)
        p50s.append(percentile(lat, 50))
        p99s.append(percentile(lat, 99))
        details.append({"jobs": profile.latency_jobs, "picked_up": len(lat), "max_ms": max(lat, default=None)})
    results.add(Figure("latency", "latency-p50", system, case, "p50 ms", p50s, higher_is_better=False,
                       role=role, details=details))
    results.add(Figure("latency", "latency-p99", system, case, "p99 ms", p99s, higher_is_better=False,
                       role=role, details=details))
