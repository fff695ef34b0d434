"""Celery (PyPI) on the local Redis, in a Redis database of its own, with its defaults
(prefork pool, one child per core): single-job enqueue, drain and pickup latency.
Celery has no batch enqueue (a group publishes one message per task), so that is skipped."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time

from bench import env, procs
from bench.baselines.common import latency_run, read_records
from bench.profiles import Profile
from bench.results import Figure, Results

SYSTEM = "celery"
REDIS_DB = int(os.environ.get("BENCH_CELERY_REDIS_DB", "13"))
DATA = "x" * 88


def _broker_url() -> str:
    return f"{env.REDIS_URL}/{REDIS_DB}"


def _flush() -> None:
    import redis

    redis.Redis.from_url(_broker_url()).flushdb()


def _worker(record: str) -> procs.Child:
    return procs.Child.python("celery-worker", "celery", "-A", "bench.proc.celery_app", "worker", "-Q", "bench",
                              "--loglevel", "WARNING",
                              env={"BENCH_CELERY_BROKER": _broker_url(), "BENCH_RECORD": record})


def _app():
    os.environ["BENCH_CELERY_BROKER"] = _broker_url()
    from bench.proc.celery_app import app, noop
    app.conf.broker_url = _broker_url()
    return app, noop


def redis_cpu() -> float:
    """CPU seconds (user + system) of the whole redis-server process so far (INFO cpu)."""
    import redis

    info = redis.Redis.from_url(_broker_url()).info("cpu")
    return info["used_cpu_user"] + info["used_cpu_sys"]


def cost_figures(results: Results, case: str, runs: list[dict]) -> None:
    """Beside the others' PostgreSQL CPU: none (n/a), and what stands in its place, Redis's CPU."""
    results.add(Figure("cost", "cost-pg_cpu_per_1k", SYSTEM, f"drain {case}: n/a, no PostgreSQL (queue in Redis)",
                       "PostgreSQL CPU s/1k jobs", [], higher_is_better=False, role="peer"))
    results.add(Figure("cost", "cost-redis_cpu_per_1k", SYSTEM, f"drain {case}, whole redis-server process",
                       "Redis CPU s/1k jobs", [r["redis_cpu_per_1k"] for r in runs], higher_is_better=False,
                       role="peer"))


def single_enqueue_rate(total: int) -> float:
    _, noop = _app()
    noop.delay(DATA)  # connect first
    _flush()
    t0 = time.perf_counter()
    for _ in range(total):
        noop.delay(DATA)
    rate = total / (time.perf_counter() - t0)
    _flush()
    return rate


async def drain_rate(n: int) -> dict:
    _, noop = _app()
    _flush()
    for _ in range(n):
        noop.delay(DATA)
    fd, record = tempfile.mkstemp(prefix="bench-celery-", suffix=".txt")
    os.close(fd)
    redis_before = redis_cpu()
    worker = _worker(record)
    try:
        deadline = time.monotonic() + max(60.0, n / 50)
        while len(read_records(record)) < n:
            if worker.process.poll() is not None:
                raise RuntimeError(f"celery worker exited: {worker.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError("celery did not drain in time")
            await asyncio.sleep(0.1)
        redis_used = redis_cpu() - redis_before
        peak = worker.peak_rss_mb()
    finally:
        await asyncio.to_thread(worker.stop)
        _flush()
    records = read_records(record)
    os.unlink(record)
    span = max(e for _, e in records.values()) - min(s for s, _ in records.values())
    return {"jobs_per_s": len(records) / span, "span_s": span, "done": len(records), "worker_peak_rss_mb": peak,
            "redis_cpu_per_1k": redis_used / max(1, len(records)) * 1000}


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    try:
        _flush()
    except Exception as exc:  # noqa: BLE001 - any failure to reach Redis: record and go on
        results.skip("all", SYSTEM, f"Redis at {_broker_url()} unavailable: {exc}")
        return
    values = [await asyncio.to_thread(single_enqueue_rate, profile.enqueue_single) for _ in range(profile.runs)]
    results.add(Figure("enqueue", "enqueue-1x1", SYSTEM, "1 job/call (delay), 1 in flight", "jobs/s", values,
                       role="peer"))
    results.skip("enqueue", SYSTEM, "no batch enqueue API (a group publishes one message per task); "
                                    "32 in flight not measured (the client is synchronous)")
    runs = [await drain_rate(profile.drain_jobs_slow_peer) for _ in range(profile.runs)]
    fig = results.add(Figure("drain", "drain", SYSTEM, f"prefork x{os.cpu_count()}, "
                             f"{profile.drain_jobs_slow_peer} jobs", "jobs/s", [r["jobs_per_s"] for r in runs],
                             role="peer", details=runs))
    cost_figures(results, fig.case, runs)

    async def setup(record: str):
        worker = _worker(record)
        _, noop = _app()
        # Celery has no ready line on stdout: wait until a probe task has run.
        probe = noop.delay(DATA).id
        deadline = time.monotonic() + 30
        while probe not in read_records(record):
            if time.monotonic() > deadline:
                raise TimeoutError(f"celery worker did not start: {worker.tail()}")
            await asyncio.sleep(0.1)
        os.truncate(record, 0)

        async def send(n: int) -> str:
            return noop.delay(DATA).id

        async def close() -> None:
            _flush()
        return [worker], send, close
    await latency_run(results, profile, SYSTEM, setup, case="1 worker (prefork), idle")
