"""Handlers that the integration tests run in worker subprocesses (`brokerctl worker`) and
in-process. Payloads are JSON: {"seconds": how long to take}."""

from __future__ import annotations

import asyncio

from broker_client import Worker

worker = Worker(concurrency=4, poll_wait=1)


@worker.handler("sleep")
async def sleep(ctx):
    await asyncio.sleep(float(ctx.json().get("seconds", 0)))
    return ctx.id


@worker.handler("fail")
def fail(ctx):
    raise RuntimeError(f"attempt {ctx.attempt} of {ctx.max_attempts} failed on purpose")
