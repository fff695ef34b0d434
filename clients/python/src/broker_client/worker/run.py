"""One run of a worker: builds its parts, runs them, and takes them down in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
import grpc.aio

from ..channel import aio_channel
from ..options import ConnectionOptions
from ..v1 import job_service_pb2_grpc
from .execution import HandlerRunner
from .heartbeat import Heartbeater
from .pool import Pool
from .reconnect import UntilReconnected
from .registry import Registry
from .rpc import WorkerRpc
from .session_rpc import SessionRpc
from .settings import WorkerSettings
from .settle import Settler

log = logging.getLogger("broker_client.worker")

# At shutdown, how long a Lease call already sent may take to come back (seconds).
IN_FLIGHT_LEASE_WAIT = 0.5


class WorkerRun:
    """The object graph of one ``Worker.run``: channel, pools, rpc, settler, heartbeater."""

    def __init__(self, s: WorkerSettings, registry: Registry, options: ConnectionOptions,
                 channel: grpc.aio.Channel | None) -> None:
        self._options = options
        self._settings = s
        self._own_channel = channel is None
        self.channel = channel if channel is not None else aio_channel(options)
        self.threads = ThreadPoolExecutor(s.concurrency, thread_name_prefix="broker-handler")
        self.processes = (ProcessPoolExecutor(s.processes or None, initializer=_leave_signals_to_the_worker)
                          if registry.needs_process_pool else None)
        stub = job_service_pb2_grpc.JobServiceStub(self.channel)  # type: ignore[no-untyped-call]
        unary = WorkerRpc(stub, options, s.worker_id, s.queues, s.lease_duration)
        self.rpc: WorkerRpc | SessionRpc = (
            SessionRpc(unary, stub, options.call_metadata(), options.timeout) if s.session else unary)
        # Retries wait out their backoff, or less when the channel connects again (an outage ends).
        pause = UntilReconnected(self.channel)
        self.settler = Settler(self.rpc.ack, self.rpc.nack, interval=s.flush_interval, max_batch=s.flush_size,
                               pause=pause, snooze=self.rpc.snooze)
        runner = HandlerRunner(self.threads, self.processes, s.handler_timeout, s.max_result_bytes)
        self.pool = Pool(self.rpc, registry, runner, self.settler,
                         concurrency=s.concurrency, poll_wait=s.poll_wait, lease_calls=s.lease_calls, pause=pause)
        self.heartbeater = Heartbeater(self.rpc, lambda: list(self.pool.held.values()), self.pool.lost, pause)

    async def run(self, stop: asyncio.Event, force: asyncio.Event) -> None:
        """Run until ``stop`` is set (or leasing fails for good), then shut down."""
        log.info("worker %s: queues %s, concurrency %d, broker %s", self._settings.worker_id,
                 ",".join(self._settings.queues), self._settings.concurrency, self._options.target)
        if self.processes is not None:
            # Fork the cpu_bound handlers' processes now, before any call is in flight: a child
            # forked while a WorkerSession stream is open crashed inside gRPC (they all start at the
            # first task: the pool forks no more later).
            await asyncio.get_running_loop().run_in_executor(self.processes, _ready)
        settling = asyncio.create_task(self.settler.run(), name="broker-settler")
        beating = asyncio.create_task(self.heartbeater.run(), name="broker-heartbeat")
        leasing = asyncio.create_task(self.pool.lease_loop(), name="broker-lease")
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({leasing, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await self._shutdown(leasing, settling, beating, force)
        if leasing.done() and not leasing.cancelled() and leasing.exception() is not None:
            raise leasing.exception()  # type: ignore[misc]

    async def _shutdown(self, leasing: asyncio.Task[None], settling: asyncio.Task[None],
                        beating: asyncio.Task[None], force: asyncio.Event) -> None:
        # 1. No new leases. A Lease call in flight may already have claimed jobs on the broker:
        # give its reply a moment to arrive (those jobs then drain like the others) before
        # cutting the long poll short. 2. Running jobs finish (heartbeats go on).
        # 3. The rest are nacked.
        self.pool.stop_leasing()
        await asyncio.wait({leasing}, timeout=0 if force.is_set() else IN_FLIGHT_LEASE_WAIT)
        leasing.cancel()
        await asyncio.gather(leasing, return_exceptions=True)
        await self.pool.drain(0 if force.is_set() else self._settings.shutdown_grace, force)
        await self.pool.abort()
        # 4. Deliver every ack and nack (bounded), then stop the background loops.
        await self.settler.close(timeout=1.0 if force.is_set() else self._options.timeout)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(settling), self._options.timeout + 1)
        for task in (settling, beating):
            task.cancel()
        await asyncio.gather(settling, beating, return_exceptions=True)
        await self.rpc.close()
        if self._own_channel:
            await self.channel.close()
        self.threads.shutdown(wait=False, cancel_futures=True)
        if self.processes is not None:
            self.processes.shutdown(wait=False, cancel_futures=True)
        stats = self.pool.stats
        log.info("worker %s stopped: %d succeeded, %d failed, %d lost, %d nacked at shutdown",
                 self._settings.worker_id, stats.succeeded, stats.failed, stats.lost, stats.aborted)


def _leave_signals_to_the_worker() -> None:
    """Run first in each process of the pool: its signals are the worker's business.

    A terminal's Ctrl-C (and a service manager's SIGTERM to the whole group) reaches the pool's
    processes too. Forked, they inherit the worker's asyncio signal handling, whose wakeup fd is
    shared with the worker: each child's copy of one signal reached the worker as another signal,
    so one Ctrl-C read as "stop now". The children ignore both; the worker drains, then shuts
    the pool down.
    """
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def _ready() -> bool:
    """A no-op run in the process pool to start its processes."""
    return True
