"""The public Worker: handlers, settings, and the run/stop lifecycle."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, TypeVar

import grpc.aio

from ..options import ConnectionOptions, resolve
from .stats import WorkerStats
from .registry import Registry
from .run import WorkerRun
from .settings import WorkerSettings

__all__ = ["Worker", "WorkerSettings"]

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("broker_client.worker")


class Worker:
    """Runs handlers for jobs leased from the broker, up to ``concurrency`` at a time.

    >>> worker = Worker(["emails"], concurrency=32)
    >>> @worker.handler("send_email")
    ... async def send_email(ctx: JobContext) -> None: ...
    >>> worker.run_sync("127.0.0.1:50051")   # or: await worker.run(...)

    Success acks; an exception nacks (retried with the job's backoff, dead-lettered when
    attempts run out); ``PermanentError`` dead-letters at once. Delivery is at least once.
    """

    def __init__(
        self,
        queues: Sequence[str] | str = (),
        *,
        concurrency: int = WorkerSettings.concurrency,
        lease_duration: float | None = WorkerSettings.lease_duration,
        poll_wait: float = WorkerSettings.poll_wait,
        lease_calls: int = WorkerSettings.lease_calls,
        shutdown_grace: float = WorkerSettings.shutdown_grace,
        handler_timeout: float | None = WorkerSettings.handler_timeout,
        processes: int = WorkerSettings.processes,
        flush_interval: float = WorkerSettings.flush_interval,
        flush_size: int = WorkerSettings.flush_size,
        session: bool = WorkerSettings.session,
        max_result_bytes: int = WorkerSettings.max_result_bytes,
        worker_id: str | None = None,
        registry: Registry | None = None,
        connection: ConnectionOptions | None = None,
    ) -> None:
        """The keywords are the fields of ``WorkerSettings`` (its defaults; ``worker_id`` None:
        host-pid-random), checked at once; ``connection`` is the default for ``run``."""
        settings = WorkerSettings(
            queues=(queues,) if isinstance(queues, str) else tuple(queues), concurrency=concurrency,
            lease_duration=lease_duration, poll_wait=poll_wait, lease_calls=lease_calls,
            shutdown_grace=shutdown_grace, handler_timeout=handler_timeout, processes=processes,
            flush_interval=flush_interval, flush_size=flush_size, session=session,
            max_result_bytes=max_result_bytes)
        self.settings = replace(settings, worker_id=worker_id) if worker_id is not None else settings
        self.registry = registry if registry is not None else Registry()
        self.connection = connection
        self.stats = WorkerStats()
        self._stop: asyncio.Event | None = None
        self._force: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @classmethod
    def from_settings(cls, settings: WorkerSettings, *, registry: Registry | None = None,
                      connection: ConnectionOptions | None = None) -> Worker:
        """A worker with prepared settings."""
        worker = cls(registry=registry, connection=connection)
        worker.settings = settings
        return worker

    def handler(self, kind: str, *, timeout: float | None = None, cpu_bound: bool = False) -> Callable[[F], F]:
        """Decorator registering a handler for ``kind``; see ``Registry.handler``."""
        return self.registry.handler(kind, timeout=timeout, cpu_bound=cpu_bound)

    def configured(
        self,
        *,
        queues: Sequence[str] | None = None,
        concurrency: int | None = None,
        lease_duration: float | None = None,
        poll_wait: float | None = None,
        lease_calls: int | None = None,
        shutdown_grace: float | None = None,
        handler_timeout: float | None = None,
        processes: int | None = None,
        flush_interval: float | None = None,
        flush_size: int | None = None,
        session: bool | None = None,
        max_result_bytes: int | None = None,
        worker_id: str | None = None,
        connection: ConnectionOptions | None = None,
    ) -> Worker:
        """A worker with the same handlers and these settings changed (None: keep)."""
        queues = (queues,) if isinstance(queues, str) else queues
        changes = {"queues": tuple(queues) if queues else None, "concurrency": concurrency,
                   "lease_duration": lease_duration, "poll_wait": poll_wait, "lease_calls": lease_calls,
                   "shutdown_grace": shutdown_grace,
                   "handler_timeout": handler_timeout, "processes": processes,
                   "flush_interval": flush_interval, "flush_size": flush_size, "session": session,
                   "max_result_bytes": max_result_bytes, "worker_id": worker_id}
        settings = replace(self.settings, **{k: v for k, v in changes.items() if v is not None})
        return Worker.from_settings(settings, registry=self.registry, connection=connection or self.connection)

    def run_sync(self, target: str | None = None, *, options: ConnectionOptions | None = None,
                 channel: grpc.aio.Channel | None = None, handle_signals: bool = True) -> None:
        """``asyncio.run(self.run(...))``."""
        asyncio.run(self.run(target, options=options, channel=channel, handle_signals=handle_signals))

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
        current = WorkerRun(self.settings, self.registry, options, channel)
        self.stats = current.pool.stats
        try:
            await current.run(self._stop, self._force)
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
