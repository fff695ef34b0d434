"""Runs one handler on one job and turns what happened into an Outcome (ack or nack)."""

from __future__ import annotations

import asyncio
import contextvars
import traceback
from concurrent.futures import Executor as PoolExecutor
from dataclasses import dataclass
from typing import Any

from ..errors import PermanentError, RetryLater, Snooze
from ..results import MAX_RESULT_BYTES, ResultError, encode_result
from .context import JobContext
from .registry import Handler

# Errors travel to the broker with every failed attempt; keep them readable and bounded.
MAX_ERROR_CHARS = 8000
# Payloads kept as objects up to this size are fetched (and checked) before the handler runs.
PREFETCH_PAYLOAD_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    """How an attempt ended: ``ok`` acks; ``snooze`` (seconds) hands the job back for later
    without using an attempt; otherwise nack with ``error`` (message and traceback), straight to
    DEAD when ``permanent``, retried after ``retry_after`` seconds when set (else the job's
    backoff)."""

    ok: bool
    error: str = ""
    permanent: bool = False
    retry_after: float | None = None
    value: Any = None
    exception: BaseException | None = None
    result: bytes | None = None  # ``value`` as the job's result (results.encode_result), sent with the ack
    snooze: float | None = None  # the handler raised or returned Snooze(delay)

    def unwrap(self) -> Any:
        """The handler's return value; re-raises its exception when the attempt failed."""
        if self.ok:
            return self.value
        if self.exception is not None:
            raise self.exception
        raise RuntimeError(self.error)

    @classmethod
    def failed(cls, exc: BaseException) -> Outcome:
        if isinstance(exc, Snooze):
            return cls(ok=False, snooze=exc.delay, exception=exc)
        return cls(ok=False, error=format_error(exc), permanent=isinstance(exc, (PermanentError, ResultError)),
                   retry_after=exc.delay if isinstance(exc, RetryLater) else None, exception=exc)


_OK = Outcome(ok=True)


def format_error(exc: BaseException) -> str:
    """``Type: message`` then the traceback, cut in the middle when too long."""
    text = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exception(exc))
    if len(text) <= MAX_ERROR_CHARS:
        return text
    half = MAX_ERROR_CHARS // 2
    return text[:half] + "\n[... traceback cut ...]\n" + text[-half:]


class HandlerRunner:
    """Calls handlers the way each needs: async on the loop, sync on the thread pool,
    cpu-bound on the process pool; applies the time limit and classifies the result."""

    def __init__(self, threads: PoolExecutor | None = None, processes: PoolExecutor | None = None,
                 default_timeout: float | None = None, max_result_bytes: int = MAX_RESULT_BYTES,
                 prefetch_payload_bytes: int = PREFETCH_PAYLOAD_BYTES) -> None:
        self._threads = threads
        self._prefetch = prefetch_payload_bytes
        self._processes = processes
        self._default_timeout = default_timeout
        self._max_result_bytes = max_result_bytes

    async def run(self, handler: Handler | None, ctx: JobContext) -> Outcome:
        """Run the attempt. Cancellation (lost lease, shutdown) propagates to the caller."""
        if handler is None:
            return Outcome(ok=False, error=f"no handler registered for kind {ctx.kind!r} on this worker")
        ref = ctx.payload_ref
        if ref is not None and ref.size <= self._prefetch and not ctx.payload_fetched:
            try:  # the payload before the handler: it reads ctx.payload as if it were inline
                await ctx.aread_payload()
            except Exception as exc:  # noqa: BLE001 - a storage failure or a mismatch: retried
                return Outcome.failed(exc)
        timeout = handler.timeout if handler.timeout is not None else self._default_timeout
        if timeout is None:  # the common case, and the hot path: no timer to arm
            try:
                value = await self._call(handler, ctx)
            except Exception as exc:  # noqa: BLE001 - any handler failure is a nack
                return Outcome.failed(exc)
            return self._succeeded(value)
        limit = asyncio.timeout(timeout)
        try:
            async with limit:
                value = await self._call(handler, ctx)
        except TimeoutError as exc:
            if not limit.expired():  # the handler's own TimeoutError: an ordinary failure
                return Outcome.failed(exc)
            ctx.mark_lost()  # a sync handler keeps running in its thread: ask it to stop
            return Outcome(ok=False, error=f"TimeoutError: handler ran longer than {timeout:g} s",
                           exception=exc)
        except Exception as exc:  # noqa: BLE001 - any handler failure is a nack
            return Outcome.failed(exc)
        return self._succeeded(value)

    def _succeeded(self, value: Any) -> Outcome:
        if value is None:
            return _OK
        if isinstance(value, Snooze):  # returned rather than raised: the same
            return Outcome.failed(value)
        try:
            return Outcome(ok=True, value=value, result=encode_result(value, self._max_result_bytes))
        except ResultError as exc:  # the work is done, but its result cannot be kept: a permanent failure
            return Outcome.failed(exc)

    def _call(self, handler: Handler, ctx: JobContext) -> Any:
        if handler.is_async:
            return handler.func(ctx)
        loop = asyncio.get_running_loop()
        if handler.cpu_bound and self._processes:
            return loop.run_in_executor(self._processes, handler.func, ctx)
        # In the caller's context (as asyncio.to_thread): a sync handler sees the job's trace span.
        return loop.run_in_executor(self._threads, contextvars.copy_context().run, handler.func, ctx)
