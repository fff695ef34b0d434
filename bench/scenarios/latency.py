"""Pickup latency: one idle SDK worker process (concurrency 10) long-polling; jobs enqueued
10 ms apart with the SDK's AsyncClient; p50 and p99 from the enqueue call returning to the
handler starting (both on the machine's monotonic clock)."""

from __future__ import annotations

import asyncio

from bench import procs
from bench.baselines.common import latency_run
from bench.broker_side import broker_under_test, sdk_workers
from bench.payload import KIND, QUEUE, payload
from bench.profiles import Profile
from bench.results import Results
from broker_client import AsyncClient


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with broker_under_test("latency", keep_db) as but:
        async def setup(record: str):
            workers = sdk_workers(but.address, 1, 10, "--record", record)
            await asyncio.to_thread(procs.start_all, workers)
            procs.go(workers)
            await asyncio.sleep(1.0)  # let its first long poll reach the broker
            client = AsyncClient(but.address)

            async def send(n: int) -> str:
                return (await client.enqueue(QUEUE, KIND, payload(n))).job_id
            return workers, send, client.close

        await latency_run(results, profile, "broker", setup, case="1 SDK worker c=10, idle", role="subject")
