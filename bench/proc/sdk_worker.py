"""A bench worker process: the SDK's worker pool (broker_client.Worker) with a no-op handler.

Connects, prints `ready`, waits for `go` on stdin, then runs until SIGTERM and prints `stats {...}` (the pool's counters). With --record
each handler appends `<job id> <monotonic start> <monotonic end>` to a file (unbuffered,
so a SIGKILL loses nothing written); with --hold it sleeps that long first (crash scenario).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import sys
import time

from broker_client import ConnectionOptions, Worker
from broker_client.channel import aio_channel


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--queue", required=True)
    p.add_argument("--concurrency", type=int, default=10)
    p.add_argument("--lease-duration", type=float)
    p.add_argument("--record")
    p.add_argument("--hold", type=float, default=0.0)
    p.add_argument("--worker-id")
    p.add_argument("--unary", action="store_true", help="one unary RPC per call instead of a WorkerSession")
    return p.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    settings = {"concurrency": args.concurrency, "lease_duration": args.lease_duration,
                "shutdown_grace": 1.0, "session": not args.unary}
    if args.worker_id:
        settings["worker_id"] = args.worker_id
    worker = Worker([args.queue], **{k: v for k, v in settings.items() if v is not None})
    fd = os.open(args.record, os.O_WRONLY | os.O_CREAT | os.O_APPEND) if args.record else None
    hold = args.hold

    @worker.handler("noop")
    async def noop(ctx) -> None:
        if fd is None:
            return
        start = time.monotonic()
        if hold:
            await asyncio.sleep(hold)
        os.write(fd, f"{ctx.id} {start:.6f} {time.monotonic():.6f}\n".encode())

    options = ConnectionOptions(target=args.target)
    channel = aio_channel(options)
    await channel.channel_ready()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await worker.run(options=options, channel=channel)
    print("stats " + json.dumps(dataclasses.asdict(worker.stats)), flush=True)


if __name__ == "__main__":
    asyncio.run(run(parse()))
