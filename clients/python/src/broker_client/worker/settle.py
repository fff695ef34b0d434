"""Batches acks, nacks and snoozes: one Ack, one Nack and one Snooze call for whatever
accumulated over a few milliseconds (or as soon as ``max_batch`` are waiting), retried while the
broker is away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from ..retrying import WORKER_RETRYABLE, Backoff
from ..v1 import job_service_pb2 as pb

log = logging.getLogger("broker_client.worker")

Send = Callable[[Sequence[Any]], Awaitable[Sequence[pb.LeaseResult]]]
Pending = list[tuple[Any, "asyncio.Future[pb.LeaseResult | None]"]]


class Settler:
    """Collects acks and nacks and sends them in batches.

    ``ack``/``nack`` return a future of the broker's LeaseResult for that job (None if it
    could not be delivered). A LOST result means the job was redelivered meanwhile: its
    result is dropped, which the at-least-once contract allows.
    """

    def __init__(self, ack: Send, nack: Send, *, interval: float = 0.005, max_batch: int = 100,
                 pause: Callable[[float], Awaitable[None]] = asyncio.sleep, snooze: Send | None = None) -> None:
        self._send = {"ack": ack, "nack": nack, **({"snooze": snooze} if snooze else {})}
        self._pause = pause
        self._pending: dict[str, Pending] = {kind: [] for kind in self._send}
        self._interval = interval
        self._max_batch = max_batch
        self._wake = asyncio.Event()
        self._full = asyncio.Event()
        self._closing = False
        self._give_up_at: float | None = None
        self.calls = {kind: 0 for kind in self._send}

    def ack(self, job_id: str, token: str, result: bytes | None = None) -> asyncio.Future[pb.LeaseResult | None]:
        # A tuple, not a LeaseRef: the Ack request is built in place when the batch goes.
        return self._add("ack", (job_id, token, result))

    def nack(self, item: pb.NackItem) -> asyncio.Future[pb.LeaseResult | None]:
        return self._add("nack", item)

    def snooze(self, item: pb.SnoozeItem) -> asyncio.Future[pb.LeaseResult | None]:
        return self._add("snooze", item)

    def _add(self, kind: str, msg: Any) -> asyncio.Future[pb.LeaseResult | None]:
        future: asyncio.Future[pb.LeaseResult | None] = asyncio.get_running_loop().create_future()
        self._pending[kind].append((msg, future))
        self._wake.set()
        if len(self._pending[kind]) >= self._max_batch:
            self._full.set()
        return future

    @property
    def waiting(self) -> int:
        return sum(len(p) for p in self._pending.values())

    async def run(self) -> None:
        """Flush until ``close`` and everything is sent (or given up)."""
        while True:
            await self._wake.wait()
            if not self.waiting and self._closing:
                return
            if not self._closing and not self._full.is_set():
                try:
                    async with asyncio.timeout(self._interval):
                        await self._full.wait()
                except TimeoutError:
                    pass
            await self.flush_once()
            if self._closing and not self.waiting:
                return

    async def flush_once(self) -> None:
        """Send everything waiting: acks and nacks in chunks of ``max_batch``, concurrently."""
        taken = {k: p[:] for k, p in self._pending.items()}
        for pending in self._pending.values():
            pending.clear()
        self._wake.clear()
        self._full.clear()
        n = self._max_batch
        await asyncio.gather(*(self._deliver(kind, batch[i:i + n])
                               for kind, batch in taken.items() for i in range(0, len(batch), n)))

    async def _deliver(self, kind: str, batch: Pending) -> None:
        backoff = Backoff()
        while True:
            try:
                self.calls[kind] += 1
                results = await self._send[kind]([msg for msg, _ in batch])
                break
            except grpc.RpcError as error:
                if error.code() not in WORKER_RETRYABLE or self._past_deadline():
                    log.error("%s of %d jobs failed for good: %s", kind, len(batch), error)
                    results = [None] * len(batch)  # type: ignore[list-item]
                    break
                delay = backoff.next(error)
                log.warning("%s of %d jobs failed (%s); retrying in %.2f s", kind, len(batch),
                            error.code().name, delay)
                await self._pause(delay)
        for (msg, future), result in zip(batch, results, strict=False):
            if result is not None and result.outcome != pb.LEASE_OUTCOME_OK:
                log.warning("%s of job %s: %s, result dropped (the job was redelivered or cancelled)",
                            kind, result.job_id, pb.LeaseOutcome.Name(result.outcome))
            if not future.done():
                future.set_result(result)

    def _past_deadline(self) -> bool:
        return self._give_up_at is not None and asyncio.get_running_loop().time() >= self._give_up_at

    async def close(self, timeout: float) -> None:
        """Send what is waiting, retrying for at most ``timeout`` seconds, then stop ``run``."""
        self._closing = True
        self._give_up_at = asyncio.get_running_loop().time() + timeout
        self._wake.set()
        self._full.set()
