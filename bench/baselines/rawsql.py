"""The raw-SQL ceiling: the broker's lifecycle written directly with asyncpg against the
broker's own schema, with and without the event rows. Enqueue runs in the bench process;
the drain runs in worker processes like the broker's (bench/proc/rawsql_worker.py)."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timezone

import asyncpg

from bench import env, procs
from bench.baselines.common import pg_cost_figure
from bench.baselines.rawsql_sql import LABELS, ROLES, enqueue_args, session_settings, statements
from bench.payload import KIND, QUEUE, payload
from bench.pgcpu import PgCpu, per_1k
from bench.profiles import Profile
from bench.results import Figure, Results
from broker.infra.pg.migrate import migrate

# (worker processes, connections per process) for each claim size.
DRAIN_LAYOUT = {1: (2, 8), 100: (2, 2)}


async def enqueue_rate(url: str, variant: str, total: int, per_statement: int, in_flight: int) -> float:
    enqueue_sql = statements(variant)[0]
    conns = [await asyncpg.connect(url, server_settings=session_settings(variant)) for _ in range(in_flight)]
    try:
        for c in conns:
            await c.prepare(enqueue_sql)
        batches = iter(range(0, total, per_statement))

        async def lane(conn: asyncpg.Connection) -> None:
            for start in batches:
                payloads = [payload(n) for n in range(start, min(start + per_statement, total))]
                await conn.fetch(enqueue_sql, *enqueue_args(payloads, QUEUE, KIND, datetime.now(timezone.utc)))
        t0 = time.perf_counter()
        await asyncio.gather(*(lane(c) for c in conns))
        return total / (time.perf_counter() - t0)
    finally:
        await conns[0].execute("TRUNCATE broker_jobs, broker_events")
        for c in conns:
            await c.close()


async def fill(url: str, n: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        enqueue_sql = statements("broker")[0]
        for start in range(0, n, 1000):
            payloads = [payload(i) for i in range(start, min(start + 1000, n))]
            await conn.fetch(enqueue_sql, *enqueue_args(payloads, QUEUE, KIND, datetime.now(timezone.utc)))
        await conn.execute("ANALYZE broker_jobs; ANALYZE broker_events")
    finally:
        await conn.close()


async def drain_rate(url: str, variant: str, n: int, claim: int) -> dict:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE broker_jobs, broker_events")
        await fill(url, n)
        processes, loops = DRAIN_LAYOUT[claim]
        workers = [procs.Child.python(f"raw-{i}", "bench.proc.rawsql_worker", "--dsn", url, "--claim", str(claim),
                                      "--loops", str(loops), "--variant", variant)
                   for i in range(processes)]
        try:
            await asyncio.to_thread(procs.start_all, workers)
            workers_before = sum(w.cpu() for w in workers)  # start-up is not drain work
            async with PgCpu(url, [conn]) as pg:
                procs.go(workers)
                marks = [await asyncio.to_thread(w.expect, "done", max(60.0, n / 100)) for w in workers]
                workers_used = sum(w.cpu() for w in workers) - workers_before
                pg_used = await pg.stop()
        finally:
            await asyncio.to_thread(procs.stop_all, workers)
        spans = [tuple(map(float, m.split()[1:])) for m in marks]
        done = await conn.fetchval("SELECT count(*) FROM broker_jobs WHERE state = 'succeeded'")
        span = max(s[1] for s in spans) - min(s[0] for s in spans)
        return {"jobs_per_s": done / span, "span_s": span, "completed": done,
                **per_1k(pg_used, done), "workers_cpu_per_1k": workers_used / done * 1000,
                "layout": f"{processes} proc x {loops} conn"}
    finally:
        await conn.close()


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with env.fresh_database("rawsql", keep_db) as url:
        conn = await asyncpg.connect(url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        # Enqueue: the broker's statement, and the same insert without the event rows (the
        # tuned variants insert exactly as the broker does).
        for variant in ("broker", "tuned-plain"):
            for group, case, total, per, flight in (
                    ("enqueue-1x1", "1 job/statement, 1 in flight", profile.enqueue_single, 1, 1),
                    ("enqueue-1x32", "1 job/statement, 32 in flight", profile.enqueue_concurrent, 1, 32),
                    ("enqueue-100x4", "100 jobs/statement, 4 in flight", profile.enqueue_batch, 100, 4)):
                values = [await enqueue_rate(url, variant, total, per, flight) for _ in range(profile.runs)]
                label = "broker SQL, with events" if variant == "broker" else "no events"
                results.add(Figure("enqueue", group, "raw-sql", f"{case}, {label}", "jobs/s", values,
                                   role=ROLES[variant]))
        for variant in ("broker", "tuned-events", "tuned-plain"):
            for claim, n in ((1, profile.drain_jobs_claim1), (100, profile.drain_jobs)):
                runs = [await drain_rate(url, variant, n, claim) for _ in range(profile.runs)]
                group = "drain" if claim == 100 else "drain-claim1"
                fig = results.add(Figure("drain", group, "raw-sql",
                                         f"claim {claim}, {LABELS[variant]} ({runs[0]['layout']}, {n} jobs)",
                                         "jobs/s", [r["jobs_per_s"] for r in runs], role=ROLES[variant],
                                         details=runs))
                if claim == 100:
                    pg_cost_figure(results, "raw-sql", f"drain {fig.case}", runs, ROLES[variant])
