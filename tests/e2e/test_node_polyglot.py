"""The contract from two languages: a Python producer feeding a Node worker, a Node producer
feeding a Python worker, and a Node worker killed with SIGKILL losing no job."""

from __future__ import annotations

import asyncio
import json
import os
import signal

import pytest

from broker_client import AsyncClient, JobRequest, Worker
from tests.brokers import running_broker
from tests.node import NODE_DIR, node_or_skip
from tests.sdk.helpers import eventually, running


class NodeProcess:
    """A Node script of clients/node/dist/examples; its stdout read line by line as JSON."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[dict] = []
        self.reader = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, script: str, *args: str, **env: str) -> NodeProcess:
        node = node_or_skip()
        process = await asyncio.create_subprocess_exec(
            node, f"dist/examples/{script}", *args, cwd=NODE_DIR, env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.lines.append(json.loads(line))

    async def wait(self, timeout: float = 30) -> int:
        code = await asyncio.wait_for(self.process.wait(), timeout)
        await self.reader
        return code

    async def stderr(self) -> str:
        assert self.process.stderr is not None
        return (await self.process.stderr.read()).decode(errors="replace")

    def stop(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


async def states(db, queue: str) -> dict[str, str]:
    return {r[0]: r[1] for r in await db.fetch("SELECT id::text, state FROM broker_jobs WHERE queue = $1", queue)}


async def poll(check, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_python_producer_and_a_node_worker_that_drains_on_sigterm(broker_server, db, queue):
    node_or_skip()
    async with AsyncClient(broker_server.grpc_address) as client:
        ok = await client.enqueue_batch([JobRequest(queue, "send_email", {"to": f"u{i}@example.com"}) for i in range(10)])
        flaky = await client.enqueue(queue, "send_email", {"to": "flaky@example.com", "failTimes": 1})
        bad = await client.enqueue(queue, "send_email", {"to": "nobody"})
        worker = await NodeProcess.start("worker.js", BROKER_TARGET=broker_server.grpc_address, BROKER_QUEUE=queue)
        try:
            async def settled() -> bool:
                s = await states(db, queue)
                return len(s) == 12 and all(v in ("succeeded", "dead") for v in s.values())
            await poll(settled)
            # A job still running when SIGTERM comes finishes before the worker exits.
            slow = await client.enqueue(queue, "send_email", {"to": "slow@example.com", "delayMs": 700})
            await poll(lambda: _running(db, slow.job_id))
            worker.process.send_signal(signal.SIGTERM)
            assert await worker.wait() == 0, await worker.stderr()
        finally:
            worker.stop()
    s = await states(db, queue)
    assert [s[r.job_id] for r in ok] == ["succeeded"] * 10
    assert (s[flaky.job_id], s[bad.job_id], s[slow.job_id]) == ("succeeded", "dead", "succeeded")
    done = {line["done"]: line for line in worker.lines}
    assert {r.job_id for r in ok} <= set(done)
    assert done[ok[0].job_id]["key"] == ok[0].idempotency_key  # the Python client's uuid4
    assert done[ok[0].job_id]["contentType"] == "application/json"
    assert done[flaky.job_id]["attempt"] == 2


async def _running(db, job_id: str) -> bool:
    return await db.fetchval("SELECT state FROM broker_jobs WHERE id = $1::uuid", job_id) == "running"


async def test_a_node_producer_and_a_python_worker(broker_server, db, queue):
    node_or_skip()
    producer = await NodeProcess.start("producer.js", "5", BROKER_TARGET=broker_server.grpc_address,
                                       BROKER_QUEUE=queue)
    assert await producer.wait() == 0, await producer.stderr()
    results = producer.lines
    assert len(results) == 6 and all(r["created"] for r in results)
    seen = []
    worker = Worker(queue, concurrency=4)

    @worker.handler("send_email")
    async def send_email(ctx) -> None:
        seen.append((ctx.id, ctx.json()["to"], ctx.headers.get("content-type"), ctx.idempotency_key, ctx.priority))

    async with running(worker, broker_server.grpc_address):
        await eventually(lambda: len(seen) == 6)
    by_id = {s[0]: s for s in seen}
    assert by_id[results[0]["jobId"]][1:4] == ("user0@example.com", "application/json", results[0]["idempotencyKey"])
    assert by_id[results[-1]["jobId"]][3:] == ("welcome:ada", -1)
    assert len({s[3] for s in seen}) == 6  # a key per job, made by the Node client
    assert set((await states(db, queue)).values()) == {"succeeded"}
    # The same key again names the same job.
    again = await NodeProcess.start("producer.js", "0", BROKER_TARGET=broker_server.grpc_address, BROKER_QUEUE=queue)
    assert await again.wait() == 0
    assert again.lines == [{**results[-1], "created": False}]


@pytest.mark.slow
async def test_a_node_worker_killed_with_sigkill_loses_no_job(own_database, queue):
    import asyncpg

    node_or_skip()
    async with running_broker(own_database) as broker:
        async with AsyncClient(broker.grpc_address) as client:
            jobs = await client.enqueue_batch(
                [JobRequest(queue, "send_email", {"to": f"u{i}@example.com", "delayMs": 150}, lease_duration=1)
                 for i in range(30)])
        env = {"BROKER_TARGET": broker.grpc_address, "BROKER_QUEUE": queue, "CONCURRENCY": "4"}
        first = await NodeProcess.start("worker.js", **env)
        conn = await asyncpg.connect(own_database)
        try:
            async def some_done() -> bool:
                return await conn.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1 AND state = 'succeeded'",
                                           queue) >= 4
            await poll(some_done)
            first.process.send_signal(signal.SIGKILL)  # mid-job: its leases lapse, the jobs come back
            assert await first.wait() == -signal.SIGKILL
            second = await NodeProcess.start("worker.js", **env)
            try:
                async def all_done() -> bool:
                    s = await states(conn, queue)
                    return len(s) == 30 and set(s.values()) == {"succeeded"}
                await poll(all_done, timeout=30)
                second.process.send_signal(signal.SIGTERM)
                assert await second.wait() == 0, await second.stderr()
            finally:
                second.stop()
            lapsed = await conn.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1 AND lease_expiries > 0", queue)
        finally:
            first.stop()
            await conn.close()
    finished = {line["done"] for line in first.lines + second.lines}
    assert finished == {j.job_id for j in jobs}
    assert lapsed >= 1  # the kill left leases to lapse: the jobs were redelivered, not lost
