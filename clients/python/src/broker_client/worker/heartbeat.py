"""One Heartbeat call for every lease the worker holds, whenever the oldest needs it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from datetime import timezone

import grpc

from ..retrying import Backoff
from ..v1 import job_service_pb2 as pb
from .inflight import InFlight
from .progress import to_wire
from .rpc import WorkerRpc

log = logging.getLogger("broker_client.worker")

# Check again at least this often, so a newly started job is never overlooked for long.
MAX_SLEEP = 1.0
# Never two calls back to back, whatever the leases say.
MIN_GAP = 0.01


class Heartbeater:
    """Extends all held leases in one call once any of them is a third through its lease.

    A lease whose handler reported progress since the broker last took one goes as an item with
    that progress (the latest report only); the others as plain leases. Leases the broker reports LOST or NOT_FOUND go to ``on_lost`` (which cancels the
    handler). While the broker is away, calls are retried with backoff; the handlers keep
    running and their results are checked at ack time.
    """

    def __init__(self, rpc: WorkerRpc, held: Callable[[], Collection[InFlight]],
                 on_lost: Callable[[InFlight], None],
                 pause: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._rpc = rpc
        self._pause = pause
        self._held = held
        self._on_lost = on_lost
        self._backoff = Backoff()
        self._error: grpc.RpcError | None = None
        self.calls = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            held = [i for i in self._held() if not i.lost]
            due = min((i.heartbeat_due for i in held), default=loop.time() + MAX_SLEEP)
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(min(wait, MAX_SLEEP))
            elif await self.beat_once():
                await asyncio.sleep(MIN_GAP)
            else:
                await self._pause(self._backoff.next(self._error))

    async def beat_once(self) -> bool:
        """One Heartbeat for every held lease; False when the call failed."""
        held = [i for i in self._held() if not i.lost]
        if not held:
            return True
        sent_at = asyncio.get_running_loop().time()
        progress = {i: p for i in held if (p := i.ctx.unsent_progress()) is not None}
        plain = [i for i in held if i not in progress] if progress else held
        items = [pb.HeartbeatItem(lease=i.ref(), progress=to_wire(p)) for i, p in progress.items()]
        held = plain + list(progress)  # the order of the results: leases first, then items
        try:
            self.calls += 1
            results = await (self._rpc.heartbeat([i.ref() for i in plain], items) if items
                             else self._rpc.heartbeat([i.ref() for i in plain]))
        except grpc.RpcError as error:
            log.warning("heartbeat for %d leases failed: %s", len(held), error.code().name)
            self._error = error
            return False
        self._backoff.reset()
        for item, result in zip(held, results, strict=False):
            self._apply(item, result, sent_at)
            if item in progress and result.outcome == pb.LEASE_OUTCOME_OK:
                item.ctx.progress_sent(progress[item])
        return True

    def _apply(self, item: InFlight, result: pb.LeaseResult, sent_at: float) -> None:
        if result.outcome == pb.LEASE_OUTCOME_OK:
            item.extended_at = sent_at
            if result.HasField("at"):
                item.ctx.lease_deadline = result.at.ToDatetime(tzinfo=timezone.utc)
        else:  # LOST or NOT_FOUND: someone else holds the job now, or nobody does
            log.warning("lease on job %s lost (%s); cancelling its handler", item.job_id,
                        pb.LeaseOutcome.Name(result.outcome))
            self._on_lost(item)
