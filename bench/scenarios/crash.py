"""Crash recovery: a worker holding N leases (its handlers sleep) is killed with SIGKILL while
a second worker waits idle. Per job: seconds from the kill to its ack (the broker's event
time); lost = not completed within the lease plus 5 s; ran twice = handler completions of the
same job counted more than once across both workers."""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections import Counter

from bench import procs
from bench.broker_side import broker_under_test, run_in_flight, sdk_workers, batch_request
from bench.profiles import Profile
from bench.results import Figure, Results
from bench.stats import percentile

SLACK = 5.0  # the target: every job completed within the lease plus this


def completions(path: str) -> Counter:
    try:
        with open(path) as f:
            return Counter(line.split()[0] for line in f if line.strip())
    except FileNotFoundError:
        return Counter()


async def wait_for(predicate, timeout: float, poll: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(poll)
    return False


async def one_run(but, n: int, lease: float) -> dict:
    await but.reset()
    await run_in_flight(but.stub.EnqueueBatch, [batch_request(range(n))], 1)
    files = []
    for _ in range(2):
        fd, path = tempfile.mkstemp(prefix="bench-crash-", suffix=".txt")
        os.close(fd)
        files.append(path)
    victim = sdk_workers(but.address, 1, n, "--lease-duration", str(lease), "--hold", "3600",
                         "--record", files[0])[0]
    rescuer = sdk_workers(but.address, 1, n, "--lease-duration", str(lease), "--record", files[1])[0]
    try:
        await asyncio.to_thread(procs.start_all, [victim, rescuer])
        procs.go([victim])

        async def all_held() -> bool:
            return await but.conn.fetchval("SELECT count(*) FROM broker_jobs WHERE state = 'running'") == n
        if not await wait_for(all_held, 30):
            raise TimeoutError("the victim did not lease every job")
        procs.go([rescuer])
        await asyncio.sleep(0.3)  # the rescuer is now long-polling an empty queue
        killed_at = await but.conn.fetchval("SELECT clock_timestamp()")
        procs.kill(victim)

        async def all_done() -> bool:
            return await but.conn.fetchval("SELECT count(*) FROM broker_jobs WHERE state = 'succeeded'") == n
        await wait_for(all_done, lease + SLACK + 10)
        rows = await but.conn.fetch("""
            SELECT extract(epoch FROM min(at) - $1::timestamptz) AS seconds FROM broker_events
            WHERE reason = 'ack' GROUP BY job_id""", killed_at)
    finally:
        await asyncio.to_thread(procs.stop_all, [rescuer])
        victim.stop()
    seconds = sorted(float(r["seconds"]) for r in rows)
    runs = completions(files[0]) + completions(files[1])
    for path in files:
        os.unlink(path)
    return {"p50_s": percentile(seconds, 50), "p99_s": percentile(seconds, 99), "max_s": max(seconds, default=None),
            "completed": len(seconds), "lost": n - sum(1 for s in seconds if s <= lease + SLACK),
            "ran_twice": sum(1 for c in runs.values() if c > 1), "lease_s": lease}


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with broker_under_test("crash", keep_db) as but:
        runs = [await one_run(but, profile.crash_jobs, profile.crash_lease) for _ in range(profile.runs)]
    case = f"{profile.crash_jobs} leases of {profile.crash_lease:g} s, reaper every 1 s"
    for metric, key in (("recovery p50 s", "p50_s"), ("recovery p99 s", "p99_s"), ("recovery max s", "max_s"),
                        ("lost", "lost"), ("ran twice", "ran_twice")):
        results.add(Figure("crash", "crash-" + key, "broker", case, metric, [r[key] for r in runs],
                           higher_is_better=False, details=runs if key == "max_s" else []))
