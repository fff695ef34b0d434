"""Drain: N ready jobs processed by SDK workers in separate processes; jobs/s from the first
lease to the last ack (the broker's event times). Also the cost: broker and PostgreSQL CPU
per 1,000 jobs, and the peak RSS of the broker and of a worker."""

from __future__ import annotations

import asyncio

from bench import procs
from bench.broker_side import broker_under_test, sdk_workers
from bench.pgcpu import PgCpu, per_1k
from bench.payload import QUEUE
from bench.profiles import Profile
from bench.results import Figure, Results
from broker_client.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc

# The "controls" row: the queue's flow controls in force during the drain. The concurrency limit
# is below the workers' 2 x 100 slots, so it binds; the rate is near what the drain reaches here,
# so the bucket is taken in every claim and runs dry now and then.
CONTROLS = {"concurrency_limit": 150, "rate_limit": 10_000.0, "rate_burst": 1_000}
_CONTROL_NAMES = {"controls": "concurrency limit 150, rate 10k/s burst 1k", "node": "Node SDK"}


def case_name(concurrency: int, processes: int, *how: str) -> str:
    return f"c={concurrency} x{processes} proc" + "".join(f", {_CONTROL_NAMES.get(h) or h + ' calls'}" for h in how)


async def _set_controls(but, on: bool) -> None:
    """Set CONTROLS on the bench queue, or remove them (0 removes each)."""
    values = CONTROLS if on else {k: 0 for k in CONTROLS}
    await admin_service_pb2_grpc.AdminServiceStub(but.channel).UpdateQueue(
        apb.UpdateQueueRequest(queue=QUEUE, **values), timeout=10)


async def one_run(but, n: int, concurrency: int, processes: int, *how: str) -> dict:
    """`how`: "unary" runs the workers with one RPC per call instead of a WorkerSession; "node"
    runs the Node SDK's worker (clients/node/bench/worker.ts) instead of the Python one;
    "controls" drains with the queue's CONTROLS in force."""
    await but.reset()
    await but.fill(n)
    if "controls" in how:
        await _set_controls(but, True)
    workers = sdk_workers(but.address, processes, concurrency, *(f"--{h}" for h in how if h != "controls"))
    try:
        await asyncio.to_thread(procs.start_all, workers)
        # Start-up (imports, connecting) is not drain work: count from `go`.
        broker_cpu = but.broker.cpu()
        worker_cpu_before = sum(w.cpu() for w in workers)
        async with PgCpu(but.url, [but.conn]) as pg:  # but.conn polls for the end: not the broker's
            procs.go(workers)
            await but.wait_drained(timeout=max(60.0, n / 200))
            broker_used = but.broker.cpu() - broker_cpu
            worker_cpu = sum(w.cpu() for w in workers) - worker_cpu_before
            pg_used = await pg.stop()
        worker_rss = max((w.peak_rss_mb() or 0) for w in workers)
    finally:
        await asyncio.to_thread(procs.stop_all, workers)
        if "controls" in how:
            await _set_controls(but, False)
    calls = await but.drain_span()
    acked = calls["acked"]
    return {"jobs_per_s": acked / calls["span_s"], **calls,
            "broker_cpu_per_1k": broker_used / acked * 1000, **per_1k(pg_used, acked),
            "workers_cpu_per_1k": worker_cpu / acked * 1000, "worker_peak_rss_mb": worker_rss}


# The configuration the cost figures come from, the same one every release.
COST_CONFIG = (100, 2)


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with broker_under_test("drain", keep_db) as but:
        measured = {}
        for concurrency, processes, *how in profile.drain_configs:
            n = profile.drain_jobs if concurrency >= 100 else profile.drain_jobs_c10
            case = f"{case_name(concurrency, processes, *how)}, {n} jobs"
            try:
                runs = [await one_run(but, n, concurrency, processes, *how) for _ in range(profile.runs)]
            except Exception as exc:  # noqa: BLE001 - a configuration that cannot finish is recorded, the rest go on
                results.skip("drain", "broker", f"{case}: {type(exc).__name__}: {exc}"[:300])
                continue
            fig = results.add(Figure("drain", "drain", "broker", case, "jobs/s", [r["jobs_per_s"] for r in runs],
                                     details=runs))
            measured[(concurrency, processes, *how)] = fig, runs
        if not measured:
            return
        fig, runs = measured.get(COST_CONFIG) or list(measured.values())[-1]
        cost = [
            ("broker CPU s/1k jobs", "broker_cpu_per_1k", False),
            ("PostgreSQL CPU s/1k jobs", "pg_cpu_per_1k", False),
            ("workers CPU s/1k jobs", "workers_cpu_per_1k", False),
            ("worker peak RSS MiB", "worker_peak_rss_mb", False),
        ]
        for metric, key, higher in cost:
            results.add(Figure("cost", "cost-" + key, "broker", f"drain {fig.case}", metric,
                               [r[key] for r in runs], higher_is_better=higher))
        results.add(Figure("cost", "cost-broker-rss", "broker", "after all drains", "broker peak RSS MiB",
                           [but.broker.peak_rss_mb() or float("nan")], higher_is_better=False))
