"""When to retry a failed call and how long to wait: one pure decision, used by the sync and
the asyncio clients alike, plus the worker's open-ended backoff."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from .errors import from_rpc_error
from .options import CallRetry
from .retry_info import retry_delay as retry_info_delay

T = TypeVar("T")

# Safe to repeat only because every request the clients retry is idempotent
# (enqueues carry an idempotency key; heartbeat, ack and nack are idempotent by contract).
# CANCELLED reaches a client that never cancels its calls when a broker stops mid-call (a
# rolling restart): the next attempt finds another replica.
RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                       grpc.StatusCode.CANCELLED})

# The worker keeps going through these (the broker or its database is away, or a transient bug);
# anything else (bad queue name, bad token) is a configuration error that retrying cannot fix.
WORKER_RETRYABLE = RETRYABLE | {
    grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED, grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN, grpc.StatusCode.CANCELLED,
}


def next_delay(error: grpc.RpcError, attempt: int, policy: CallRetry,
               rng: random.Random | None = None) -> float | None:
    """Seconds to wait before trying again after ``attempt`` (1-based) failed with ``error``,
    or None to give up.

    UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED back off exponentially; RESOURCE_EXHAUSTED is retried
    only when the server sent a RetryInfo hint, after exactly that delay. A hint on any
    retryable code wins over the computed backoff.
    """
    if attempt >= policy.max_attempts:
        return None
    code = error.code() if hasattr(error, "code") else None
    hint = retry_info_delay(error.trailing_metadata() if hasattr(error, "trailing_metadata") else None)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return None if hint is None else min(hint, policy.max_retry_info_delay)
    if code not in RETRYABLE:
        return None
    if hint is not None:
        return min(hint, policy.max_retry_info_delay)
    return policy.backoff(attempt, rng)


def call_with_retry(call: Callable[[], T], policy: CallRetry,
                    sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call`` until it succeeds or ``next_delay`` gives up; raise the SDK error then."""
    attempt = 1
    while True:
        try:
            return call()
        except grpc.RpcError as error:
            delay = next_delay(error, attempt, policy)
            if delay is None:
                raise from_rpc_error(error) from error
        sleep(delay)
        attempt += 1


async def acall_with_retry(call: Callable[[], Awaitable[T]], policy: CallRetry,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> T:
    """The asyncio twin of ``call_with_retry``."""
    attempt = 1
    while True:
        try:
            return await call()
        except grpc.RpcError as error:
            delay = next_delay(error, attempt, policy)
            if delay is None:
                raise from_rpc_error(error) from error
        await sleep(delay)
        attempt += 1


# The longest RetryInfo delay the worker's loops honour.
MAX_HINT = 60.0


class Backoff:
    """Open-ended exponential backoff with equal jitter for the worker's loops, which keep
    retrying for as long as the broker is away; ``reset()`` after a success. When the failed
    call carries a RetryInfo hint (a rate limit), the hint is the wait instead."""

    def __init__(self, initial: float = 0.1, maximum: float = 5.0, multiplier: float = 2.0,
                 rng: random.Random | None = None) -> None:
        self._policy = CallRetry(max_attempts=1, initial_backoff=initial, max_backoff=maximum,
                                 multiplier=multiplier)
        self._rng = rng
        self.failures = 0

    def next(self, error: grpc.RpcError | None = None) -> float:
        """Count a failure and return the seconds to wait before the next try: the server's
        RetryInfo delay when ``error`` carries one (up to a minute), else the backoff."""
        self.failures += 1
        hint = retry_info_delay(error.trailing_metadata()) if hasattr(error, "trailing_metadata") else None
        if hint is not None:
            return min(hint, MAX_HINT)
        return self._policy.backoff(self.failures, self._rng)

    async def sleep(self, error: grpc.RpcError | None = None) -> None:
        """Count a failure and wait."""
        await asyncio.sleep(self.next(error))

    def reset(self) -> None:
        self.failures = 0
