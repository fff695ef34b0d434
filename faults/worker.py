"""A fault-scenario worker process: the SDK's worker pool (broker_client.Worker) whose handler
records every execution, and which records every answer its calls get.

    python -m faults.worker --target ipv4:127.0.0.1:P1,127.0.0.1:P2 --queue Q --record FILE

Prints `ready` once connected and works until SIGTERM (or SIGKILL: the point). Lines appended to
FILE, each with one `os.write` to a file opened O_APPEND, so the kernel holds a line once the
call returns and a SIGKILL of this process loses none (fsync would add a power cut, which the
scenarios do not play):

    X <uid> <job id> <attempt> <pid> <unix time>   a handler ran to its end (written before it
                                                    returns, so before the worker acks the job)
    C <call> OK <count>                             Lease/Heartbeat/Ack/Nack calls answered OK
                                                    (counted, flushed every 0.2 s)
    E <call> <CODE> <unix time> <details>           one failed call (written at once)
    O <call> <OUTCOME> <count>                      per-lease outcomes other than OK (LOST ...)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from collections import Counter

import grpc

from broker_client import ConnectionOptions, Worker
from broker_client.v1 import job_service_pb2 as pb
from broker_client.worker import run as sdk_run
from broker_client.worker.session_rpc import SessionRpc

OUTCOMES = {value: name for name, value in pb.LeaseOutcome.items()}


class Recorder:
    """Appends lines to the record file; answer counts are batched, failures are not."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._ok: Counter = Counter()
        self._outcomes: Counter = Counter()

    def line(self, text: str) -> None:
        os.write(self._fd, (text + "\n").encode())

    def answered(self, call: str, results=None) -> None:
        self._ok[call] += 1
        for result in results or ():
            if result.outcome != pb.LEASE_OUTCOME_OK:
                self._outcomes[(call, OUTCOMES.get(result.outcome, str(result.outcome)))] += 1

    def failed(self, call: str, error: grpc.RpcError) -> None:
        details = (error.details() or "").replace("\n", " ")[:200]
        self.line(f"E {call} {error.code().name} {time.time():.6f} {details}")

    def flush(self) -> None:
        lines = [f"C {call} OK {n}" for call, n in self._ok.items()]
        lines += [f"O {call} {outcome} {n}" for (call, outcome), n in self._outcomes.items()]
        self._ok.clear()
        self._outcomes.clear()
        if lines:
            self.line("\n".join(lines))


RECORDER: Recorder | None = None


class CountingSessionRpc(SessionRpc):
    """The SDK's session calls, each answer counted by code (the pool, the settler and the
    heartbeater retry failures themselves and never show them)."""

    async def _counted(self, call: str, coro, results: bool):
        try:
            value = await coro
        except grpc.RpcError as error:
            RECORDER.failed(call, error)
            raise
        RECORDER.answered(call, value if results else None)
        return value

    async def lease(self, max_jobs, wait):
        return await self._counted("Lease", super().lease(max_jobs, wait), False)

    async def heartbeat(self, refs):
        return await self._counted("Heartbeat", super().heartbeat(refs), True)

    async def ack(self, refs):
        return await self._counted("Ack", super().ack(refs), True)

    async def nack(self, items):
        return await self._counted("Nack", super().nack(items), True)


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True, help="host:port, or ipv4:h1:p1,h2:p2 (round robin)")
    p.add_argument("--queue", required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--worker-id", required=True)
    p.add_argument("--concurrency", type=int, default=20)
    p.add_argument("--lease-duration", type=float, default=5.0)
    p.add_argument("--work-ms", type=float, default=5.0, help="handlers sleep up to this long")
    return p.parse_args(argv)


async def flush_loop() -> None:
    while True:
        await asyncio.sleep(0.2)
        RECORDER.flush()


async def run(args: argparse.Namespace) -> None:
    global RECORDER
    RECORDER = Recorder(args.record)
    # The worker's WorkerRun builds its calls from this module-level name: count them (harness only).
    sdk_run.SessionRpc = CountingSessionRpc
    worker = Worker([args.queue], concurrency=args.concurrency, lease_duration=args.lease_duration,
                    poll_wait=2.0, shutdown_grace=2.0, worker_id=args.worker_id)
    pid, work = os.getpid(), args.work_ms / 1000

    @worker.handler("fault")
    async def handle(ctx) -> None:
        uid = ctx.json()["uid"]
        if work:
            await asyncio.sleep(random.uniform(0, work))
        RECORDER.line(f"X {uid} {ctx.id} {ctx.attempt} {pid} {time.time():.6f}")

    balanced = (("grpc.lb_policy_name", "round_robin"),) if "," in args.target else ()
    options = ConnectionOptions(target=args.target, channel_options=balanced)
    flushing = asyncio.create_task(flush_loop())
    print("ready", flush=True)
    try:
        await worker.run(options=options)
    finally:
        flushing.cancel()
        RECORDER.flush()


if __name__ == "__main__":
    asyncio.run(run(parse()))
