"""PgQueuer (PyPI) against its own fresh database: batch enqueue, drain (its default batch
and its best setting per shared/NOTES.md: batch 50, two processes) and pickup latency."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bench import env, procs
from bench.baselines import pgqueuer_steady
from bench.baselines.common import latency_figures, latency_run, pg_cost_figure, single_enqueue_rates
from bench.payload import payload
from bench.pgcpu import PgCpu, per_1k
from bench.profiles import Profile
from bench.results import Figure, Results

SYSTEM = "pgqueuer"
# (batch size, worker processes): the library's default, then its best on this machine.
DRAIN_CASES_FULL = ((10, 1), (50, 2))
DRAIN_CASES_QUICK = ((50, 2),)
COST_CASE = (50, 2)  # its PostgreSQL CPU beside the broker's: at its best setting


async def install(url: str) -> None:
    from pgqueuer import AsyncpgDriver, Queries

    conn = await asyncpg.connect(url)
    try:
        await Queries(AsyncpgDriver(conn)).install()
    finally:
        await conn.close()


async def truncate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE pgqueuer, pgqueuer_log, pgqueuer_statistics")
    finally:
        await conn.close()


async def batch_enqueue_rate(url: str, total: int, per_call: int = 100, in_flight: int = 4) -> float:
    from pgqueuer import AsyncpgDriver, Queries

    conns = [await asyncpg.connect(url) for _ in range(in_flight)]
    try:
        queries = [Queries(AsyncpgDriver(c)) for c in conns]
        batches = iter(range(0, total, per_call))

        async def lane(q) -> None:
            for start in batches:
                count = min(per_call, total - start)
                await q.enqueue(["noop"] * count, [payload(start + i) for i in range(count)], [0] * count)
        t0 = time.perf_counter()
        await asyncio.gather(*(lane(q) for q in queries))
        return total / (time.perf_counter() - t0)
    finally:
        for c in conns:
            await c.close()
        await truncate(url)


def single_enqueuer(url: str):
    """An enqueue-one-job coroutine factory for common.single_enqueue_rates."""
    async def make():
        from pgqueuer import AsyncpgDriver, Queries

        conn = await asyncpg.connect(url)
        q = Queries(AsyncpgDriver(conn))

        async def send(n: int):
            return (await q.enqueue("noop", payload(n)))[0]
        return send, conn.close
    return make


async def fill(url: str, n: int) -> None:
    from pgqueuer import AsyncpgDriver, Queries

    conn = await asyncpg.connect(url)
    try:
        q = Queries(AsyncpgDriver(conn))
        for start in range(0, n, 1000):
            count = min(1000, n - start)
            await q.enqueue(["noop"] * count, [payload(start + i) for i in range(count)], [0] * count)
        await conn.execute("ANALYZE pgqueuer; ANALYZE pgqueuer_log")
    finally:
        await conn.close()


async def drain_rate(url: str, n: int, batch: int, processes: int) -> dict:
    await truncate(url)
    await fill(url, n)
    conn = await asyncpg.connect(url)
    workers = [procs.Child.python(f"pgq-{i}", "bench.proc.pgq_worker", "--dsn", url, "--batch-size", str(batch))
               for i in range(processes)]
    try:
        await asyncio.to_thread(procs.start_all, workers)
        workers_before = sum(w.cpu() for w in workers)  # start-up is not drain work
        async with PgCpu(url, [conn]) as pg:
            procs.go(workers)
            deadline = time.monotonic() + max(60.0, n / 200)
            while await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pgqueuer)"):
                if time.monotonic() > deadline:
                    raise TimeoutError("pgqueuer did not drain in time")
                await asyncio.sleep(0.05)
            workers_used = sum(w.cpu() for w in workers) - workers_before
            pg_used = await pg.stop()
        row = await conn.fetchrow("""
            SELECT extract(epoch FROM max(created) FILTER (WHERE status = 'successful')
                                   - min(created) FILTER (WHERE status = 'picked')) AS span,
                   count(*) FILTER (WHERE status = 'successful') AS done
            FROM pgqueuer_log""")
    finally:
        await asyncio.to_thread(procs.stop_all, workers)
        await conn.close()
    return {"jobs_per_s": row["done"] / float(row["span"]), "span_s": float(row["span"]), "done": row["done"],
            **per_1k(pg_used, row["done"]), "workers_cpu_per_1k": workers_used / max(1, row["done"]) * 1000}


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with env.fresh_database("pgqueuer", keep_db) as url:
        await install(url)
        values = [await batch_enqueue_rate(url, profile.enqueue_batch) for _ in range(profile.runs)]
        results.add(Figure("enqueue", "enqueue-100x4", SYSTEM, "100 jobs/call, 4 in flight", "jobs/s", values,
                           role="peer"))
        for group, case, total, flight in (("enqueue-1x1", "1 job/call, 1 in flight", profile.enqueue_single, 1),
                                           ("enqueue-1x32", "1 job/call, 32 in flight", profile.enqueue_concurrent, 32)):
            values = [await single_enqueue_rates(single_enqueuer(url), total, flight) for _ in range(profile.runs)]
            await truncate(url)
            results.add(Figure("enqueue", group, SYSTEM, case, "jobs/s", values, role="peer"))
        await web_tier(url, profile, results)
        cases = DRAIN_CASES_FULL if profile.name == "full" else DRAIN_CASES_QUICK
        for batch, processes in cases:
            runs = [await drain_rate(url, profile.drain_jobs, batch, processes) for _ in range(profile.runs)]
            fig = results.add(Figure("drain", "drain", SYSTEM, f"batch {batch} x{processes} proc", "jobs/s",
                                     [r["jobs_per_s"] for r in runs], role="peer", details=runs))
            if (batch, processes) == COST_CASE:
                pg_cost_figure(results, SYSTEM, f"drain {fig.case}", runs, "peer")
        await pgqueuer_steady.run(url, profile, results)
        await truncate(url)
        await latency_run(results, profile, SYSTEM, _latency_setup(url))


async def web_tier(url: str, profile: Profile, results: Results) -> None:
    """Like a web tier: 64 callers, each enqueueing one job per call (own connection each)."""
    case, rates, runs = "1 job/call, 64 callers", [], []
    for _ in range(profile.runs):
        runs.append([])
        rates.append(await single_enqueue_rates(single_enqueuer(url), profile.enqueue_concurrent, 64, runs[-1]))
        await truncate(url)
    results.add(Figure("enqueue", "enqueue-1x64", SYSTEM, case, "jobs/s", rates, role="peer"))
    latency_figures(results, SYSTEM, case, runs, "peer")


def _latency_setup(url: str):
    """Start one idle worker that records handler starts; return (worker, enqueue_one, close)."""
    async def setup(record: str):
        worker = procs.Child.python("pgq-latency", "bench.proc.pgq_worker", "--dsn", url, "--batch-size", "10",
                                    "--record", record)
        await asyncio.to_thread(procs.start_all, [worker])
        procs.go([worker])
        await asyncio.sleep(1.0)  # let it reach its idle wait (LISTEN) before the first job
        send, close = await single_enqueuer(url)()
        return [worker], send, close
    return setup
