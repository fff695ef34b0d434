"""Helpers for the observability tests: a scripted scenario whose numbers are known, /metrics
parsed into samples, and the JSON job log captured."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

import aiohttp
from google.protobuf import timestamp_pb2
from prometheus_client.parser import text_string_to_metric_families

from broker.infra.logs import JsonFormatter
from broker.v1 import admin_service_pb2 as apb, job_pb2, job_service_pb2 as pb
from tests.e2e.helpers import ack, duration, lease, nack, spec


@dataclass
class Scenario:
    """What the script did, by role, and the numbers it implies."""

    queue: str
    ids: dict[str, str] = field(default_factory=dict)
    # Counters (since this broker started, for this queue).
    counters = {"enqueued": 8, "leased": 6, "succeeded": 2, "failed_retried": 1, "failed_dead": 2,
                "expired_retried": 1, "expired_dead": 0, "dead_lettered": 2, "redriven": 1, "cancelled": 1}
    # Jobs by state now.
    states = {"ready": 2, "scheduled": 0, "retrying": 2, "running": 0, "succeeded": 2, "dead": 1,
              "cancelled": 1}
    # The last hour as Stats counts it: failed = every nack and lapsed lease.
    window = {"enqueued": 8, "succeeded": 2, "failed": 4, "dead_lettered": 2}
    # F was ready 300 s before the scenario began, which moved the clock by 2 s.
    oldest_ready_at_least = 302.0


async def run_scenario(jobs, admin, clock, queue: str) -> Scenario:
    """Enqueues, successes, a retry, dead letters (nack), a lapsed lease, a redrive, a cancel.

    Roles: A, B succeed; C is nacked and retried; D is nacked permanently (dead); E's lease lapses
    and it is retried; F is ready (since 300 s ago) and never leased; G dies and is redriven; H is
    cancelled. Retries wait 10 minutes (no jitter), so C and E are still waiting at the end
    however slowly the test runs.
    """
    s = Scenario(queue)
    retry = job_pb2.RetryPolicy(initial_delay=duration(600), jitter=job_pb2.JITTER_NONE)
    past = timestamp_pb2.Timestamp()
    past.FromDatetime(clock.now().replace(microsecond=0) - _seconds(300))
    batch = [spec(queue, max_attempts=2, retry_policy=retry) for _ in range(5)]
    batch.append(spec(queue, kind="late", priority=100, run_at=past))
    response = await jobs.EnqueueBatch(pb.EnqueueBatchRequest(jobs=batch))
    s.ids["F"] = response.results[5].job_id

    first = await lease(jobs, queue, 4, worker="w1")
    for role, leased in zip("ABCD", first):
        s.ids[role] = leased.job.id
    [e] = await lease(jobs, queue, 1, worker="w2", lease_duration=duration(1))
    s.ids["E"] = e.job.id
    await ack(jobs, first[0], first[1])
    await nack(jobs, first[2], error="boom-c")
    await nack(jobs, first[3], error="fatal-d", permanent=True)

    clock.advance(2)  # E's lease (1 s) lapses; the reaper (every 0.1 s) retries it
    await wait_for_state(admin, s.ids["E"], job_pb2.JOB_STATE_PENDING)

    [g_id] = [r.job_id for r in (await jobs.EnqueueBatch(pb.EnqueueBatchRequest(
        jobs=[spec(queue, kind="g", max_attempts=1)]))).results]
    s.ids["G"] = g_id
    [g] = await lease(jobs, queue, 1, worker="w1")
    assert g.job.id == g_id, "G is the most urgent ready job (F has priority 100)"
    await nack(jobs, g, error="fatal-g")
    await admin.RedriveJobs(apb.RedriveJobsRequest(job_ids=[g_id]))

    h = await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue, kind="h", run_at=_future(clock))))
    s.ids["H"] = h.job_id
    await admin.CancelJob(apb.CancelJobRequest(job_id=h.job_id))
    return s


def _seconds(n: float):
    from datetime import timedelta

    return timedelta(seconds=n)


def _future(clock) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(clock.now() + _seconds(3600))
    return stamp


async def wait_for_state(admin, job_id: str, state: int, timeout: float = 15.0) -> None:
    """Waits for a background change (the reaper); fails after `timeout`, never asserts on speed."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        got = await admin.GetJob(apb.GetJobRequest(job_id=job_id))
        if got.job.state == state:
            return
        if loop.time() > deadline:
            raise AssertionError(f"job {job_id} stayed in state {got.job.state}, expected {state}")
        await asyncio.sleep(0.05)


class Samples(dict):
    """{(sample name, frozenset of label items): value} from one scrape."""

    def get_value(self, name: str, default: float | None = 0.0, **labels) -> float | None:
        return self.get((name, frozenset(labels.items())), default)

    def sum(self, name: str, **labels) -> float:
        want = set(labels.items())
        return sum(v for (n, ls), v in self.items() if n == name and want <= set(ls))


async def scrape(http_port: int) -> tuple[str, Samples]:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{http_port}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
    samples = Samples()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


async def get_json(http_port: int, path: str) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{http_port}{path}") as response:
            assert response.status == 200, await response.text()
            return await response.json()


async def post_json(http_port: int, path: str, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{http_port}{path}", json=body) as response:
            return response.status, await response.json()


@contextmanager
def job_log():
    """The `broker.jobs` lines written meanwhile, as parsed JSON objects (a list filled live)."""
    logger = logging.getLogger("broker.jobs")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    lines: list[dict] = []
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        lines.extend(json.loads(line) for line in stream.getvalue().splitlines())
