"""`python -m bench`: runs the scenarios and baselines of a profile, prints the table and the
targets, and writes bench/results/<timestamp>.json."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time
import traceback

from bench import env, report
from bench.broker_side import EXTRA_ENV
from bench.profiles import PROFILES
from bench.results import Results

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
# The last release's results, committed: "broker CPU per job never rises" compares with them.
RELEASE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "release")


def _parts() -> dict:
    """name -> (module path, system): each part runs on a fresh database of its own."""
    return {
        "enqueue": ("bench.scenarios.enqueue", "broker"),
        "drain": ("bench.scenarios.drain", "broker"),
        "latency": ("bench.scenarios.latency", "broker"),
        "steady": ("bench.scenarios.steady", "broker"),
        "crash": ("bench.scenarios.crash", "broker"),
        "payloads": ("bench.scenarios.payloads", "broker"),
        "rawsql": ("bench.baselines.rawsql", "raw-sql"),
        "pgqueuer": ("bench.baselines.pgqueuer_peer", "pgqueuer"),
        "procrastinate": ("bench.baselines.procrastinate_peer", "procrastinate"),
        "celery": ("bench.baselines.celery_peer", "celery"),
    }


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the one-minute smoke profile")
    p.add_argument("--only", help=f"comma-separated parts: {','.join(_parts())}")
    p.add_argument("--skip", help="comma-separated parts to leave out")
    p.add_argument("--runs", type=int, help="runs per figure (default: 3, quick: 1)")
    p.add_argument("--out", help="results file (default bench/results/<timestamp>.json)")
    p.add_argument("--keep-db", action="store_true", help="keep the bench databases for inspection")
    return p.parse_args(argv)


async def run_parts(names: list[str], profile, results: Results, keep_db: bool) -> dict:
    import importlib

    timings = {}
    for name in names:
        module, system = _parts()[name]
        started = time.monotonic()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            await importlib.import_module(module).run(profile, results, keep_db)
        except Exception as exc:  # noqa: BLE001 - a part that cannot run is recorded, the rest go on
            traceback.print_exc()
            results.skip(name, system, f"{type(exc).__name__}: {exc}"[:300])
        timings[name] = round(time.monotonic() - started, 1)
        print(f"[bench] {name} done in {timings[name]} s", file=sys.stderr, flush=True)
    return timings


def main(argv=None) -> int:
    args = parse(argv)
    profile = PROFILES["quick" if args.quick else "full"]
    if args.runs:
        profile = dataclasses.replace(profile, runs=args.runs)
    names = list(_parts())
    if args.only:
        names = [n for n in args.only.split(",") if n]
        unknown = set(names) - set(_parts())
        if unknown:
            print(f"unknown parts: {', '.join(sorted(unknown))}", file=sys.stderr)
            return 2
    if args.skip:
        names = [n for n in names if n not in args.skip.split(",")]
    os.makedirs(RESULTS_DIR, exist_ok=True)
    out = args.out or os.path.join(RESULTS_DIR, f"{env.stamp()}-{profile.name}.json")
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta = {"machine": env.machine(), "versions": env.versions(), "commit": env.git_commit()}
    results = Results()
    postgres = asyncio.run(env.postgres_settings())
    timings = asyncio.run(run_parts(names, profile, results, args.keep_db))
    found = report.targets(results, report.previous_cpu(RESULTS_DIR, profile.name, out, RELEASE_DIR))
    data = {"started": started, "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "profile": profile.name,
            "profile_settings": dataclasses.asdict(profile), "parts": names, "seconds": timings, **meta,
            "loadavg_at_end": os.getloadavg(), "postgres": postgres, "broker_env": EXTRA_ENV,
            "figures": [f.to_json() for f in results.figures],
            "skips": [dataclasses.asdict(s) for s in results.skips],
            "targets": [t.to_json() for t in found]}
    with open(out, "w") as f:
        json.dump(data, f, indent=1, default=str)
    print()
    print(report.table(results))
    print()
    print("Targets (tracked, never asserted):")
    print(report.targets_table(found))
    print()
    print(f"load average at start {meta['machine']['loadavg_at_start']}, at end {data['loadavg_at_end']}")
    print(f"results: {os.path.relpath(out)}")
    return 0
