"""`broker serve` as a process: its logs go to stderr in the chosen format, one line per job state
change, and nothing else is printed to stdout."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import aiohttp
import grpc
import pytest

from broker.v1 import job_service_pb2_grpc
from tests.e2e.helpers import ack, enqueue, lease
from tests.support import free_port


async def _serve(database_url: str, fmt: str):
    grpc_port, http_port = free_port(), free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "BROKER_LOG_LEVEL": "info",
           "BROKER_LOG_FORMAT": fmt}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli", "serve", "--grpc-addr", f"127.0.0.1:{grpc_port}",
        "--http-addr", f"127.0.0.1:{http_port}", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError(f"broker exited: {(await process.stderr.read()).decode()}")
            try:
                async with session.get(f"http://127.0.0.1:{http_port}/healthz") as r:
                    if r.status == 200:
                        return process, grpc_port, http_port
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    process.kill()
    raise AssertionError("broker did not become healthy")


@pytest.mark.parametrize("fmt", ["json", "human"])
async def test_logs_go_to_stderr_in_the_chosen_format(own_database, queue, fmt):
    process, grpc_port, http_port = await _serve(own_database, fmt)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            ids = await enqueue(jobs, queue, 2)
            [leased] = await lease(jobs, queue, 1)
            await ack(jobs, leased)
        async with aiohttp.ClientSession() as session:
            for path in ("/", "/metrics", "/api/overview"):
                async with session.get(f"http://127.0.0.1:{http_port}{path}") as r:
                    assert r.status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0
    assert out == b""
    lines = err.decode().splitlines()
    if fmt == "json":
        records = [json.loads(line) for line in lines]  # every line is JSON
        changes = [(r["job_id"], r["reason"]) for r in records if r.get("queue") == queue]
        assert sorted(changes) == sorted([(ids[0], "enqueue"), (ids[1], "enqueue"),
                                          (leased.job.id, "lease"), (leased.job.id, "ack")])
    else:
        changes = [line for line in lines if f"queue={queue}" in line]
        assert len(changes) == 4 and all(" broker.jobs: job " in line for line in changes)
        assert not any(line.startswith("{") for line in lines)
