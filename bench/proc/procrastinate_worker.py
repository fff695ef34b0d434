"""A Procrastinate worker process (run_worker_async on queue `bench`), started on `go`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from bench.proc.procrastinate_app import make_app


async def run(args: argparse.Namespace) -> None:
    fd = os.open(args.record, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if args.record else None
    app = make_app(os.environ["BENCH_PROCRASTINATE_DSN"], fd)
    async with app.open_async():
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await app.run_worker_async(queues=["bench"], concurrency=args.concurrency, wait=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--record")
    asyncio.run(run(p.parse_args()))
