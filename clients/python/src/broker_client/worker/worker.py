"""The public Worker: handlers, settings, and the run/stop lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import grpc.aio

from ..options import ConnectionOptions, resolve
from .pool import WorkerStats
from .registry import Registry
from .session import Session

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("broker_client.worker")


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker leases and runs jobs. Durations are seconds."""

    queues: tuple[str, ...] = ()
    concurrency: int = 10
    # Lease length asked of the broker (1 s to 12 h); None: each job's own lease duration.
    lease_duration: float | None = None
    # Long-poll wait of each Lease call when no job is ready (the broker allows up to 60 s).
    poll_wait: float = 10.0
    # On SIGTERM/SIGINT, running jobs get this long to finish before they are nacked.
    shutdown_grace: float = 30.0
    # Per-job time limit for handlers that do not set their own; None: no limit.
    handler_timeout: float | None = None
    # Size of the process pool for cpu_bound handlers (0: os.cpu_count()).
    processes: int = 0
    flush_interval: float = 0.005
    flush_size: int = 100
    # Lease, Heartbeat, Ack and Nack over one WorkerSession stream (less CPU per call on both
    # sides); False, or a broker without sessions: one unary RPC per call.
    session: bool = True
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if not 0 <= self.poll_wait <= 60:
            raise ValueError(f"poll_wait must be between 0 and 60 s, got {self.poll_wait}")
        if self.lease_duration is not None and self.lease_duration < 1:
            raise ValueError(f"lease_duration must be at least 1 s, got {self.lease_duration}")
        if self.shutdown_grace < 0 or self.flush_interval < 0 or not 1 <= self.flush_size <= 1000:
            raise ValueError("need shutdown_grace >= 0, flush_interval >= 0, 1 <= flush_size <= 1000")


class Worker:
    """Runs handlers for jobs leased from the broker, up to ``concurrency`` at a time.

    >>> worker = Worker(["emails"], concurrency=32)
    >>> @worker.handler("send_email")
    ... async def send_email(ctx: JobContext) -> None: ...
    >>> worker.run_sync("127.0.0.1:50051")   # or: await worker.run(...)

    Success acks; an exception nacks (retried with the job's backoff, dead-lettered when
    attempts run out); ``PermanentError`` dead-letters at once. Delivery is at least once.
    """

    def __init__(self, queues: Sequence[str] | str = (), *, registry: Registry | None = None,
                 connection: ConnectionOptions | None = None, **settings: Any) -> None:
        """``settings`` are the fields of ``WorkerSettings`` (concurrency, lease_duration, ...)."""
        queues = (queues,) if isinstance(queues, str) else tuple(queues)
        self.registry = registry if registry is not None else Registry()
        self.settings = WorkerSettings(queues=queues, **settings)
        self.connection = connection
        self.stats = WorkerStats()
        self._stop: asyncio.Event | None = None
        self._force: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def handler(self, kind: str, *, timeout: float | None = None, cpu_bound: bool = False) -> Callable[[F], F]:
        """Decorator registering a handler for ``kind``; see ``Registry.handler``."""
        return self.registry.handler(kind, timeout=timeout, cpu_bound=cpu_bound)

    def configured(self, **changes: Any) -> Worker:
        """A worker with the same handlers and these settings changed (None values ignored)."""
        queues = changes.pop("queues", None)
        connection = changes.pop("connection", None) or self.connection
        settings = replace(self.settings, **{k: v for k, v in changes.items() if v is not None})
        if queues:
            settings = replace(settings, queues=tuple(queues))
        clone = Worker(registry=self.registry, connection=connection)
        clone.settings = settings
        return clone

    def run_sync(self, target: str | None = None, **kwargs: Any) -> None:
        """``asyncio.run(self.run(...))``."""
        asyncio.run(self.run(target, **kwargs))

    def stop(self, *, force: bool = False) -> None:
        """Ask a running worker to stop: no new leases, running jobs get ``shutdown_grace``
        to finish (``force``: none). Safe to call from any thread."""
        if self._loop is None or self._stop is None or self._force is None:
            return
        stop, forced = self._stop, self._force
        def signal_stop() -> None:
            stop.set()
            if force:
                forced.set()
        try:
            in_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            in_loop = False
        if in_loop:
            signal_stop()
        else:
            self._loop.call_soon_threadsafe(signal_stop)

    @property
    def forced(self) -> bool:
        """True when the last run was stopped without waiting for running jobs."""
        return self._force is not None and self._force.is_set()

    def _on_signal(self, signum: int) -> None:
        assert self._stop is not None
        again = self._stop.is_set()
        log.warning("%s: %s", signal.Signals(signum).name,
                    "stopping now" if again else "draining (send again to stop at once)")
        self.stop(force=again)

    async def run(self, target: str | None = None, *, options: ConnectionOptions | None = None,
                  channel: grpc.aio.Channel | None = None, handle_signals: bool = True) -> None:
        """Lease and run jobs until ``stop()`` or SIGTERM/SIGINT, then shut down gracefully.

        Raises ``LeaseRefused`` when the broker refuses to lease for a reason retrying
        cannot fix. While the broker is unreachable the worker keeps its running jobs and
        retries with backoff.
        """
        if not self.settings.queues:
            raise ValueError("the worker needs at least one queue")
        options = resolve(target, options or self.connection)
        self._loop = asyncio.get_running_loop()
        self._stop, self._force = asyncio.Event(), asyncio.Event()
        signals = self._install_signals() if handle_signals else []
        session = Session(self, options, channel)
        self.stats = session.pool.stats
        try:
            await session.run(self._stop, self._force)
        finally:
            for sig in signals:
                self._loop.remove_signal_handler(sig)

    def _install_signals(self) -> list[int]:
        if threading.current_thread() is not threading.main_thread():
            return []
        assert self._loop is not None
        installed: list[int] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, self._on_signal, sig)
                installed.append(sig)
        return installed
