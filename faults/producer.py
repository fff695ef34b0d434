"""The scenarios' producer: Enqueue calls straight from the generated stubs, so every answer is
seen and counted by its code. Each job carries a unique id (`uid`) in its JSON payload and as
its idempotency key: a retried call after a lost answer returns the stored job, never a second
one. Retries are bounded (count and time), like a real client's."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter

import grpc
import grpc.aio

from broker_client.retry_info import retry_delay
from broker_client.v1 import job_pb2
from broker_client.v1 import job_service_pb2 as pb
from broker_client.v1 import job_service_pb2_grpc

KIND = "fault"
CALL_TIMEOUT = 30.0       # a deadline no healthy answer comes near (the broker's own waits are 10 s)
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.CANCELLED,
             grpc.StatusCode.DEADLINE_EXCEEDED}


def target(addresses: list[str]) -> str:
    """One gRPC target over every replica (with round robin: see `channel`)."""
    return addresses[0] if len(addresses) == 1 else "ipv4:" + ",".join(addresses)


def channel(addresses: list[str]) -> grpc.aio.Channel:
    options = [("grpc.initial_reconnect_backoff_ms", 200), ("grpc.max_reconnect_backoff_ms", 1000)]
    if len(addresses) > 1:
        options.append(("grpc.lb_policy_name", "round_robin"))
    return grpc.aio.insecure_channel(target(addresses), options=options)


def job(queue: str, uid: str) -> job_pb2.JobSpec:
    return job_pb2.JobSpec(queue=queue, kind=KIND, payload=json.dumps({"uid": uid}).encode(),
                           idempotency_key=uid, max_attempts=100)


class Producer:
    """Counts: `enqueued` (jobs sent at least once), `acknowledged` (uid -> job id, answered OK),
    `codes` (every answer by code), `answers` ((time the call started, time answered, code))."""

    def __init__(self, addresses: list[str], queue: str, prefix: str, channels: int = 1,
                 max_attempts: int = 40, max_retry_seconds: float = 60.0) -> None:
        self.queue, self.prefix = queue, prefix
        self._channels = [channel(addresses) for _ in range(channels)]
        self._stubs = [job_service_pb2_grpc.JobServiceStub(ch) for ch in self._channels]
        self._next = 0
        self._max_attempts, self._max_retry_seconds = max_attempts, max_retry_seconds
        self.enqueued = 0
        self.acknowledged: dict[str, str] = {}
        self.codes: Counter = Counter()
        self.answers: list[tuple[float, float, str]] = []
        self.gave_up = 0
        self.first_answers: Counter = Counter()

    def uids(self, n: int) -> list[str]:
        start = self.enqueued
        self.enqueued += n
        return [f"{self.prefix}-{i:07d}" for i in range(start, start + n)]

    def _stub(self):
        self._next += 1
        return self._stubs[self._next % len(self._stubs)]

    async def _call(self, method: str, request) -> tuple[grpc.StatusCode, object, grpc.RpcError | None]:
        started = time.time()
        try:
            response = await getattr(self._stub(), method)(request, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            code, response, failure = error.code(), None, error
        else:
            code, failure = grpc.StatusCode.OK, None
        self.codes[code.name] += 1
        self.answers.append((started, time.time(), code.name))
        return code, response, failure

    async def _with_retries(self, method: str, request) -> object | None:
        """The call until answered OK, or None after a non-retryable code or the bounds."""
        give_up_at = time.monotonic() + self._max_retry_seconds
        for attempt in range(1, self._max_attempts + 1):
            code, response, failure = await self._call(method, request)
            if attempt == 1:
                self.first_answers[code.name] += 1
            if code == grpc.StatusCode.OK:
                return response
            if code not in RETRYABLE or time.monotonic() > give_up_at:
                break
            hint = retry_delay(failure.trailing_metadata())
            await asyncio.sleep(hint if hint is not None else
                                random.uniform(0.5, 1.0) * min(2.0, 0.05 * 2 ** (attempt - 1)))
        self.gave_up += 1
        return None

    async def batch(self, n: int) -> None:
        """One EnqueueBatch of `n` new jobs (atomic on the broker), retried as one."""
        uids = self.uids(n)
        response = await self._with_retries("EnqueueBatch", pb.EnqueueBatchRequest(
            jobs=[job(self.queue, uid) for uid in uids]))
        if response is not None:
            for uid, result in zip(uids, response.results):
                self.acknowledged[uid] = result.job_id

    async def single(self) -> None:
        """One unary Enqueue of a new job."""
        (uid,) = self.uids(1)
        response = await self._with_retries("Enqueue", pb.EnqueueRequest(job=job(self.queue, uid)))
        if response is not None:
            self.acknowledged[uid] = response.job_id

    async def paced(self, rate: float, batch: int, stop: asyncio.Event, max_seconds: float) -> None:
        """`rate` jobs/s in batches of `batch` until `stop` is set (at most `max_seconds`), each
        call in its own task (a slow or failing call does not hold up the next); returns when
        every call has finished."""
        interval = batch / rate
        tasks = []
        start = time.monotonic()
        for i in range(int(max_seconds / interval)):
            if stop.is_set():
                break
            delay = start + i * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(self.batch(batch)))
        await asyncio.gather(*tasks)

    async def burst(self, n: int) -> None:
        """`n` unary Enqueue calls at once."""
        await asyncio.gather(*(self.single() for _ in range(n)))

    async def close(self) -> None:
        for ch in self._channels:
            await ch.close()
