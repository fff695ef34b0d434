"""Profile the broker under load with py-spy: `python -m bench.profile drain|enqueue`.

Starts a broker on a fresh database, attaches `py-spy record` to its process, runs the load
(drain: rounds of 20,000 jobs inserted by raw SQL, then drained by two SDK worker processes
with c=100; enqueue: EnqueueBatch of 100, 4 in flight) for --seconds, and writes a flame
graph (SVG) and collapsed stacks next to a summary of the top functions by own and by
inclusive time. Needs ptrace (root, or CAP_SYS_PTRACE)."""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from bench import procs
from bench.baselines.rawsql import fill
from bench.broker_side import batch_request, broker_under_test, run_in_flight, sdk_workers

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "profiles")


async def drain_load(but, seconds: float, attach) -> int:
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await but.reset()
        await fill(but.url, 20_000)
        workers = sdk_workers(but.address, 2, 100)
        try:
            await asyncio.to_thread(procs.start_all, workers)
            attach(workers[0].pid)
            procs.go(workers)
            await but.wait_drained(120)
        finally:
            await asyncio.to_thread(procs.stop_all, workers)
        done += 20_000
    return done


async def enqueue_load(but, seconds: float, attach) -> int:
    attach(but.broker.pid)
    done = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await run_in_flight(but.stub.EnqueueBatch, [batch_request(range(i, i + 100)) for i in range(0, 20_000, 100)], 4)
        await but.reset()
        done += 20_000
    return done


# Leaves where a thread waits rather than works: the grpc poller thread (native code under
# Thread.run, mostly in epoll_wait), the event loop's select, idle thread-pool workers.
WAITING = {"Thread.run (threading.py)", "EpollSelector.select (selectors.py)",
           "_worker (concurrent/futures/thread.py)"}


def summarize(collapsed: str, top: int = 25) -> str:
    """Own and inclusive shares per function from py-spy's collapsed stacks, as shares of the
    samples that were doing work (stacks ending in a WAITING leaf are left out)."""
    own, incl = collections.Counter(), collections.Counter()
    total = waiting = 0
    with open(collapsed) as f:  # "frame;frame;... count" lines
        for line in f:
            stack, _, count = line.rstrip().rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [re.sub(r":\d+\)$", ")", fr) for fr in stack.split(";")]
            total += n
            if frames[-1] in WAITING:
                waiting += n
                continue
            own[frames[-1]] += n
            for frame in set(frames):
                incl[frame] += n
    work = max(1, total - waiting)
    lines = [f"{total} samples (idle excluded by py-spy), {waiting} of them waiting "
             f"({', '.join(sorted(WAITING))}); shares below are of the {work} working samples", "",
             "own time:"]
    lines += [f"  {n / work:6.1%}  {frame}" for frame, n in own.most_common(top)]
    lines += ["", "inclusive time:"]
    lines += [f"  {n / work:6.1%}  {frame}" for frame, n in incl.most_common(top * 2)]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    pyspy = shutil.which("py-spy") or os.path.join(os.path.dirname(sys.executable), "py-spy")
    os.makedirs(OUT_DIR, exist_ok=True)
    stem = os.path.join(OUT_DIR, f"{time.strftime('%Y%m%d-%H%M%S')}-{args.load}")
    spies: list[subprocess.Popen] = []

    def attach(pid: int) -> None:
        """Start py-spy on `pid` (once: the broker, or the first worker of the first round)."""
        if spies:
            return
        flags = ["--pid", str(pid), "--rate", str(args.rate)] + (["--native"] if args.native else [])
        spies.append(subprocess.Popen([pyspy, "record", *flags, "--format", "raw", "-o", stem + ".txt"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE))
        if args.svg:
            spies.append(subprocess.Popen([pyspy, "record", *flags, "-o", stem + ".svg"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(0.5)

    async with broker_under_test("profile") as but:
        if args.who == "broker":
            attach(but.broker.pid)
        cpu = but.broker.cpu()
        load = drain_load if args.load == "drain" else enqueue_load
        jobs = await load(but, args.seconds, attach)
        used = but.broker.cpu() - cpu
        for p in spies:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)
            p.wait(30)
    print(f"{args.load}: {jobs} jobs, broker CPU {used:.2f} s = {used / jobs * 1000:.3f} s per 1,000 jobs")
    if os.path.exists(stem + ".txt"):
        summary = summarize(stem + ".txt")
        with open(stem + "-summary.txt", "w") as f:
            f.write(summary)
        print(summary)
        print(f"\nfiles: {stem}.txt" + (f", {stem}.svg" if args.svg else ""))
    else:
        print("py-spy wrote nothing:", spies[0].stderr.read().decode()[-2000:] if spies else "")
        return 1
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("load", choices=("drain", "enqueue"))
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    p.add_argument("--native", action="store_true", help="include C frames (grpc core, protobuf)")
    p.add_argument("--svg", action="store_true", help="also write a flame graph")
    p.add_argument("--who", choices=("broker", "worker"), default="broker",
                   help="profile the broker, or one SDK worker process (drain only; first round)")
    sys.exit(asyncio.run(main(p.parse_args())))
