"""Procrastinate (PyPI) against its own fresh database: batch and single enqueue, drain
(2 worker processes, concurrency 10 each) and pickup latency."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from bench import env, procs
from bench.baselines.common import latency_run, pg_cost_figure, single_enqueue_rates
from bench.pgcpu import PgCpu, per_1k
from bench.profiles import Profile
from bench.results import Figure, Results

SYSTEM = "procrastinate"
DATA = "x" * 88  # with the JSON around it, ~100 bytes of task arguments
CONCURRENCY, PROCESSES = 10, 2


def _app(url: str):
    from bench.proc.procrastinate_app import make_app

    return make_app(url)


async def truncate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE procrastinate_jobs CASCADE")
    finally:
        await conn.close()


async def batch_enqueue_rate(app, url: str, total: int, per_call: int = 100, in_flight: int = 4) -> float:
    task = app.tasks["noop"]
    batches = iter(range(0, total, per_call))

    async def lane() -> None:
        for start in batches:
            await task.batch_defer_async(*({"data": DATA} for _ in range(min(per_call, total - start))))
    t0 = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(in_flight)))
    rate = total / (time.perf_counter() - t0)
    await truncate(url)
    return rate


def single_enqueuer(app):
    async def make():
        task = app.tasks["noop"]

        async def send(n: int):
            return await task.defer_async(data=DATA)

        async def close():
            pass
        return send, close
    return make


async def drain_rate(app, url: str, n: int) -> dict:
    await truncate(url)
    task = app.tasks["noop"]
    for start in range(0, n, 1000):
        await task.batch_defer_async(*({"data": DATA} for _ in range(min(1000, n - start))))
    conn = await asyncpg.connect(url)
    await conn.execute("ANALYZE procrastinate_jobs; ANALYZE procrastinate_events")
    workers = [procs.Child.python(f"procrastinate-{i}", "bench.proc.procrastinate_worker",
                                  "--concurrency", str(CONCURRENCY), env={"BENCH_PROCRASTINATE_DSN": url})
               for i in range(PROCESSES)]
    try:
        await asyncio.to_thread(procs.start_all, workers)
        workers_before = sum(w.cpu() for w in workers)  # start-up is not drain work
        async with PgCpu(url, [conn]) as pg:
            procs.go(workers)
            deadline = time.monotonic() + max(60.0, n / 50)
            while await conn.fetchval(
                    "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs WHERE status IN ('todo', 'doing'))"):
                if time.monotonic() > deadline:
                    raise TimeoutError("procrastinate did not drain in time")
                await asyncio.sleep(0.1)
            workers_used = sum(w.cpu() for w in workers) - workers_before
            pg_used = await pg.stop()
        row = await conn.fetchrow("""
            SELECT extract(epoch FROM max(at) FILTER (WHERE type = 'succeeded')
                                   - min(at) FILTER (WHERE type = 'started')) AS span,
                   count(*) FILTER (WHERE type = 'succeeded') AS done
            FROM procrastinate_events""")
    finally:
        await asyncio.to_thread(procs.stop_all, workers)
        await conn.close()
    return {"jobs_per_s": row["done"] / float(row["span"]), "span_s": float(row["span"]), "done": row["done"],
            **per_1k(pg_used, row["done"]), "workers_cpu_per_1k": workers_used / max(1, row["done"]) * 1000}


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with env.fresh_database("procrastinate", keep_db) as url:
        app = _app(url)
        async with app.open_async():
            await app.schema_manager.apply_schema_async()
            values = [await batch_enqueue_rate(app, url, profile.enqueue_batch) for _ in range(profile.runs)]
            results.add(Figure("enqueue", "enqueue-100x4", SYSTEM, "100 jobs/call (batch_defer), 4 in flight",
                               "jobs/s", values, role="peer"))
            for group, case, total, flight in (("enqueue-1x1", "1 job/call, 1 in flight", profile.enqueue_single, 1),
                                               ("enqueue-1x32", "1 job/call, 32 in flight",
                                                profile.enqueue_concurrent, 32)):
                values = [await single_enqueue_rates(single_enqueuer(app), total, flight)
                          for _ in range(profile.runs)]
                await truncate(url)
                results.add(Figure("enqueue", group, SYSTEM, case, "jobs/s", values, role="peer"))
            runs = [await drain_rate(app, url, profile.drain_jobs_slow_peer) for _ in range(profile.runs)]
            fig = results.add(Figure("drain", "drain", SYSTEM, f"c={CONCURRENCY} x{PROCESSES} proc, "
                                     f"{profile.drain_jobs_slow_peer} jobs", "jobs/s",
                                     [r["jobs_per_s"] for r in runs], role="peer", details=runs))
            pg_cost_figure(results, SYSTEM, f"drain {fig.case}", runs, "peer")
            await truncate(url)

            async def setup(record: str):
                worker = procs.Child.python("procrastinate-latency", "bench.proc.procrastinate_worker",
                                            "--concurrency", "10", "--record", record,
                                            env={"BENCH_PROCRASTINATE_DSN": url})
                await asyncio.to_thread(procs.start_all, [worker])
                procs.go([worker])
                await asyncio.sleep(1.0)
                send, close = await single_enqueuer(app)()
                return [worker], send, close
            await latency_run(results, profile, SYSTEM, setup)
