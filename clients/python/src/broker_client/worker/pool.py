"""Keeps up to N jobs running: long-poll leases sized to the free slots, one task per job,
and the outcome of each handed to the settler."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import grpc

from .. import tracing
from ..retrying import WORKER_RETRYABLE, Backoff
from ..v1 import job_service_pb2 as pb
from .context import JobContext
from .execution import HandlerRunner, Outcome
from .inflight import InFlight, lease_seconds
from .registry import Registry
from .rpc import WorkerRpc, duration
from .settle import Settler
from .stats import LeaseRefused, WorkerStats

log = logging.getLogger("broker_client.worker")

MAX_LEASE_BATCH = 1000
SHUTDOWN_ERROR = "worker shut down before the job finished"


class Pool:
    """The worker's engine: leasing, running and settling; shutdown in two steps
    (``drain`` then ``abort``)."""

    def __init__(self, rpc: WorkerRpc, registry: Registry, runner: HandlerRunner, settler: Settler,
                 *, concurrency: int, poll_wait: float, lease_calls: int = 2,
                 pause: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._rpc = rpc
        self._pause = pause
        self._registry = registry
        self._runner = runner
        self._settler = settler
        self._concurrency = concurrency
        self._poll_wait = poll_wait
        self._lease_calls = lease_calls
        self._overlap_min = max(1, concurrency // 4)  # slots a call beside another asks for at least
        self._changed = asyncio.Event()  # a slot freed, a Lease call came back, or stopping
        self._asked = 0  # slots the Lease calls in flight asked for
        self._backoff = Backoff()
        self._retry_at = 0.0  # after a failed Lease call: no next call before this (loop time)
        self.held: dict[str, InFlight] = {}
        self.stats = WorkerStats()
        self.stopping = False

    @property
    def free(self) -> int:
        return self._concurrency - len(self.held)

    async def lease_loop(self) -> None:
        """Lease while slots are free; back off while the broker is away. Returns after
        ``stop_leasing`` once the Lease calls in flight came back (the jobs they bring still run).

        Up to ``lease_calls`` calls are in flight at once, each asking for slots no other call
        asked for: slots freed while a call is out are asked for by the next call, instead of
        waiting for the first to come back (a call beside another asks for at least a quarter
        of the slots, so a drain does not turn into one call per finished job)."""
        calls: set[asyncio.Task[None]] = set()
        try:
            while not self.stopping:
                want = self.free - self._asked
                if calls and (len(calls) >= self._lease_calls or want < self._overlap_min) or want <= 0:
                    self._changed.clear()
                    await self._changed.wait()
                    self._raise_refusal(calls)
                    continue
                if self._retry_at:  # a call failed: wait out its backoff (or less, when reconnected)
                    delay, self._retry_at = self._retry_at - asyncio.get_running_loop().time(), 0.0
                    if delay > 0:
                        await self._pause(delay)
                    continue
                n = min(want, MAX_LEASE_BATCH)
                self._asked += n  # held for the call from now on, so the next turn sees it
                calls.add(asyncio.create_task(self._lease(n), name="broker-lease-call"))
            while calls:  # stopping: the calls in flight may bring jobs, which then run
                await asyncio.wait(calls)
                self._raise_refusal(calls)
        finally:
            for call in calls:
                call.cancel()

    def _raise_refusal(self, calls: set[asyncio.Task[None]]) -> None:
        for call in [c for c in calls if c.done()]:
            calls.discard(call)
            if not call.cancelled() and call.exception() is not None:
                raise call.exception()  # type: ignore[misc]

    async def _lease(self, n: int) -> None:
        """One Lease call for `n` slots (held for it by the loop until it comes back)."""
        try:
            self.stats.lease_calls += 1
            jobs = await self._rpc.lease(n, self._poll_wait)
        except grpc.RpcError as error:
            if error.code() not in WORKER_RETRYABLE:
                raise LeaseRefused(f"Lease refused: {error.code().name}: {error.details()}") from error
            self.stats.lease_failures += 1
            delay = self._backoff.next(error)
            log.warning("lease failed (%s); retrying in %.2f s", error.code().name, delay)
            self._retry_at = asyncio.get_running_loop().time() + delay
            return
        finally:
            self._asked -= n
            self._changed.set()
        self._backoff.reset()
        for leased in jobs:
            self.start(leased)

    def stop_leasing(self) -> None:
        """Issue no more Lease calls."""
        self.stopping = True
        self._changed.set()

    def start(self, leased: pb.LeasedJob) -> InFlight:
        """Run the handler for a leased job in its own task."""
        loop = asyncio.get_running_loop()
        ctx = JobContext.from_leased(leased, self._rpc.worker_id)
        item = InFlight(leased, ctx, lease_seconds(leased, self._rpc.lease_duration), loop.time())
        self.held[item.job_id] = item
        self.stats.leased += 1
        self.stats.running += 1
        self.stats.peak_running = max(self.stats.peak_running, self.stats.running)
        item.task = loop.create_task(self._run(item), name=f"broker-job-{item.job_id}")
        return item

    async def _run(self, item: InFlight) -> None:
        with tracing.process(item.ctx) as span:  # a no-op without OpenTelemetry
            await self._attempt(item, span)

    async def _attempt(self, item: InFlight, span: tracing.Span) -> None:
        outcome: Outcome | None = None
        try:
            outcome = await self._runner.run(self._registry.get(item.ctx.kind), item.ctx)
        except asyncio.CancelledError:
            pass  # lost lease or shutdown; both handled below
        finally:
            if self.held.get(item.job_id) is item:
                del self.held[item.job_id]
            self.stats.running -= 1
            self._changed.set()
        if item.lost:
            self.stats.lost += 1
            span.settled("lost")
        elif outcome is None:
            self.stats.aborted += 1
            self._settler.nack(pb.NackItem(lease=item.ref(), error=SHUTDOWN_ERROR, retry_after=duration(0)))
            span.settled("aborted")
        else:
            self._settle(item, outcome)
            span.settled(None, outcome)

    def _settle(self, item: InFlight, outcome: Outcome) -> None:
        if outcome.ok:
            self.stats.succeeded += 1
            self._settler.ack(item.job_id, item.token, outcome.result)
            return
        if outcome.snooze is not None:
            self.stats.snoozed += 1
            self._settler.snooze(pb.SnoozeItem(lease=item.ref(), delay=duration(outcome.snooze)))
            return
        self.stats.failed += 1
        log.info("job %s (%s) attempt %d failed: %s", item.job_id, item.ctx.kind, item.ctx.attempt,
                 outcome.error.splitlines()[0] if outcome.error else "")
        nack = pb.NackItem(lease=item.ref(), error=outcome.error, permanent=outcome.permanent)
        if outcome.retry_after is not None:
            nack.retry_after.CopyFrom(duration(outcome.retry_after))
        self._settler.nack(nack)

    def lost(self, item: InFlight) -> None:
        """The broker no longer gives us this lease: stop the handler, drop its result."""
        item.lost = True
        item.ctx.mark_lost()
        if item.task is not None:
            item.task.cancel()

    async def drain(self, grace: float, force: asyncio.Event) -> None:
        """Wait up to ``grace`` seconds for running jobs to finish, or until ``force`` is set."""
        tasks = {i.task for i in self.held.values() if i.task is not None}
        if not tasks:
            return
        log.info("draining %d running jobs (up to %.1f s)", len(tasks), grace)
        # asyncio.wait (unlike gather) leaves the job tasks alone when it is cancelled.
        finished = asyncio.ensure_future(asyncio.wait(tasks))
        forced = asyncio.ensure_future(force.wait())
        try:
            await asyncio.wait({finished, forced}, timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        finally:
            finished.cancel()
            forced.cancel()

    async def abort(self) -> None:
        """Cancel what still runs; each is nacked with retry_after=0 for prompt redelivery."""
        items = list(self.held.values())
        if items:
            log.warning("stopping %d unfinished jobs; they are nacked for redelivery", len(items))
        for item in items:
            item.ctx.mark_lost()
            if item.task is not None:
                item.task.cancel()
        await asyncio.gather(*(i.task for i in items if i.task is not None), return_exceptions=True)

