"""`python -m bench.soak` (`make soak`): a long steady load with a retention short enough to
prune, sampled every few seconds, to see whether the tables, their indexes, the dead tuples,
the broker's memory and the connections stay flat once pruning balances the inserts.

The load is the steady-state scenario's (bench/scenarios/steady.py: one EnqueueBatch every
10 ms at a fixed offered rate, two SDK worker processes at c=100) on a fresh database, with the
broker's retention and prune interval set short. Writes bench/results/<timestamp>-soak.json and
prints a short table and the verdict. Reports, never fails: not part of `make bench` or the tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter

import grpc

from bench import env, procs
from bench.broker_side import EXTRA_ENV, batch_request, broker_under_test, sdk_workers
from bench.runner import RESULTS_DIR
from bench.scenarios.steady import produce
from bench.soak_sample import prepare, sample
from bench.soak_verdict import judge, table


def parse(argv=None) -> argparse.Namespace:
    e = os.environ.get
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=float(e("SOAK_SECONDS", 600)), help="load duration (SOAK_SECONDS)")
    p.add_argument("--rate", type=int, default=int(e("SOAK_RATE", 1000)), help="offered jobs/s (SOAK_RATE)")
    p.add_argument("--retention", type=float, default=float(e("SOAK_RETENTION", 60)),
                   help="the broker's BROKER_RETENTION, seconds (SOAK_RETENTION)")
    p.add_argument("--prune-interval", type=float, default=float(e("SOAK_PRUNE_INTERVAL", 5)),
                   help="the broker's BROKER_PRUNE_INTERVAL, seconds (SOAK_PRUNE_INTERVAL)")
    p.add_argument("--sample", type=float, default=float(e("SOAK_SAMPLE", 10)), help="seconds between samples")
    p.add_argument("--out", help="results file (default bench/results/<timestamp>-soak.json)")
    p.add_argument("--keep-db", action="store_true", help="keep the database for inspection")
    p.add_argument("--report", metavar="JSON", help="print the table and verdict of an earlier run's results")
    return p.parse_args(argv)


def tolerant_sender(stub, refused: Counter):
    """The producer's `send` (scenarios/steady.py): a refused call (the broker shedding load on a
    busy machine) is counted by its status instead of ending the soak."""
    async def send(first: int, count: int) -> list[str]:
        try:
            response = await stub.EnqueueBatch(batch_request(range(first, first + count)), timeout=30)
        except grpc.aio.AioRpcError as exc:
            refused[exc.code().name] += count
            return []
        return [r.job_id for r in response.results]
    return send


def broker_env(args: argparse.Namespace) -> dict:
    return {"BROKER_RETENTION": f"{args.retention:g}", "BROKER_PRUNE_INTERVAL": f"{args.prune_interval:g}"}


async def sampler(but, t0: float, every: float, stop: asyncio.Event, samples: list[dict]) -> None:
    while True:
        samples.append(await sample(but.conn, t0, but.broker.pid))
        s = samples[-1]
        print(f"[soak] t={s['t']:.0f}s jobs {s['broker_jobs']['heap'] / 2**20:.1f} MiB "
              f"dead {s['broker_jobs']['pgstattuple_dead']:,} events {s['broker_events']['heap'] / 2**20:.1f} MiB "
              f"pending {s['pending']:,} rss {s['broker_rss_mb'] or 0:.0f} MiB", file=sys.stderr, flush=True)
        try:
            await asyncio.wait_for(stop.wait(), every)
            return
        except asyncio.TimeoutError:
            pass


async def soak(args: argparse.Namespace) -> dict:
    async with broker_under_test("soak", args.keep_db, broker_env(args)) as but:
        await prepare(but.conn)
        workers = sdk_workers(but.address, 2, 100)
        samples: list[dict] = []
        refused: Counter = Counter()
        try:
            await asyncio.to_thread(procs.start_all, workers)
            procs.go(workers)
            stop, t0 = asyncio.Event(), time.monotonic()
            task = asyncio.create_task(sampler(but, t0, args.sample, stop, samples))
            cpu = but.broker.cpu()
            offered, _ = await produce(tolerant_sender(but.stub, refused), args.rate, args.seconds, {})
            used = but.broker.cpu() - cpu
            stop.set()
            await task
        finally:
            await asyncio.to_thread(procs.stop_all, workers)
        settings = {r[0]: r[1] for r in await but.conn.fetch(
            "SELECT relname, reloptions::text FROM pg_class WHERE relname LIKE 'broker_jobs' OR relname LIKE 'broker_events%'"
            " ORDER BY 1")}
    return {"offered_jobs_per_s": offered, "broker_cpu_per_1k": used / max(1.0, offered * args.seconds) * 1000,
            "refused_jobs": dict(refused), "samples": samples, "reloptions": settings}


def report(path: str) -> int:
    with open(path) as f:
        data = json.load(f)
    print(table(data["samples"], judge(data["samples"], data["judged"]["warm_up_s"])))
    return 0


def main(argv=None) -> int:
    args = parse(argv)
    if args.report:
        return report(args.report)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    out = args.out or os.path.join(RESULTS_DIR, f"{env.stamp()}-soak.json")
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta = {"machine": env.machine(), "versions": env.versions(), "commit": env.git_commit()}
    postgres = asyncio.run(env.postgres_settings())
    measured = asyncio.run(soak(args))
    judged = judge(measured["samples"], args.retention + 2 * args.prune_interval)
    data = {"started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "profile": "soak",
            "settings": {k: v for k, v in vars(args).items() if k not in ("out", "keep_db", "report")},
            "broker_env": {**EXTRA_ENV, **broker_env(args)}, **meta, "loadavg_at_end": os.getloadavg(),
            "postgres": postgres, **measured, "judged": judged}
    with open(out, "w") as f:
        json.dump(data, f, indent=1, default=str)
    print(table(measured["samples"], judged))
    print(f"\noffered {measured['offered_jobs_per_s']:,.0f} jobs/s for {args.seconds:g} s, retention {args.retention:g} s,"
          f" broker CPU {measured['broker_cpu_per_1k']:.3f} s per 1,000 jobs")
    if measured["refused_jobs"]:
        print(f"jobs refused by the broker (by status): {measured['refused_jobs']}")
    print(f"load average at start {meta['machine']['loadavg_at_start']}, at end {data['loadavg_at_end']}")
    print(f"results: {os.path.relpath(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
