"""PgQueuer's steady-state row: the same offered rate, ticks and measurement as the broker's
(bench/scenarios/steady.py), produced with PgQueuer's batch enqueue over a small asyncpg pool,
run by two PgQueuer worker processes at its best drain setting (batch 50). CPU per 1,000 jobs
of its workers and of the PostgreSQL backends serving its database (the producer's included,
as the broker's backends include its enqueues)."""

from __future__ import annotations

import asyncio
import os

import asyncpg

from bench import procs
from bench.payload import payload
from bench.profiles import Profile
from bench.results import Results
from bench.scenarios import steady

SYSTEM = "pgqueuer"
BATCH, PROCESSES = 50, 2
PENDING = "SELECT count(*) FROM pgqueuer WHERE status = 'queued'"


def pool_sender(pool: asyncpg.Pool):
    from pgqueuer import AsyncpgPoolDriver, Queries

    queries = Queries(AsyncpgPoolDriver(pool))

    async def send(first: int, count: int) -> list:
        return await queries.enqueue(["noop"] * count, [payload(first + i) for i in range(count)], [0] * count)
    return send


async def one_run(url: str, profile: Profile) -> dict:
    from bench.baselines.pgqueuer_peer import truncate

    await truncate(url)
    record = steady.record_file()
    workers = [procs.Child.python(f"pgq-steady-{i}", "bench.proc.pgq_worker", "--dsn", url,
                                  "--batch-size", str(BATCH), "--record", record) for i in range(PROCESSES)]
    conn = await asyncpg.connect(url)
    pool = await asyncpg.create_pool(url, min_size=4, max_size=4)
    try:
        m = await steady.measure(url, conn, workers, pool_sender(pool), PENDING, record, profile)
    finally:
        await asyncio.to_thread(procs.stop_all, workers)
        await pool.close()
        await conn.close()
    out = steady.summarize(m, record)
    os.unlink(record)
    out["total_cpu_per_1k"] = out["pg_cpu_per_1k"] + out["workers_cpu_per_1k"]
    return out


async def run(url: str, profile: Profile, results: Results) -> None:
    runs = [await one_run(url, profile) for _ in range(profile.runs)]
    case = (f"{profile.steady_rate}/s offered for {profile.steady_seconds:g} s, "
            f"batch enqueue; {PROCESSES} workers batch {BATCH}")
    steady.add_figures(results, SYSTEM, case, runs, steady.METRICS, "peer")
