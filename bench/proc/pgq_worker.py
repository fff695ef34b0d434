"""A PgQueuer worker process (QueueManager with a no-op entrypoint), started on `go`.
--record appends `<job id> <monotonic start>` per job, as the SDK bench worker does."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import time
from datetime import timedelta

import asyncpg
from pgqueuer import AsyncpgDriver, PgQueuer


async def run(args: argparse.Namespace) -> None:
    conn = await asyncpg.connect(args.dsn)
    pgq = PgQueuer(AsyncpgDriver(conn))
    fd = os.open(args.record, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if args.record else None

    @pgq.entrypoint("noop")
    async def noop(job) -> None:
        if fd is not None:
            t = time.monotonic()
            os.write(fd, f"{job.id} {t:.6f} {t:.6f}\n".encode())

    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    loop.add_signal_handler(signal.SIGTERM, pgq.shutdown.set)
    await pgq.run(batch_size=args.batch_size, dequeue_timeout=timedelta(seconds=args.dequeue_timeout))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", required=True)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--dequeue-timeout", type=float, default=30.0)
    p.add_argument("--record")
    asyncio.run(run(p.parse_args()))
