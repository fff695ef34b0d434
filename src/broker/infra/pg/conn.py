"""Borrowing pooled connections, and what a failed database call becomes.

Every adapter on the pool borrows through `Connections`: it waits for a free connection no
longer than the acquire timeout, nor past the deadline of the call it serves (read from
broker.usecases.context, where the gRPC deadline stage puts it). Waiting in vain is
Unavailable, never a hang.
"""

from __future__ import annotations

import functools

import asyncpg

from broker.entities.errors import Unavailable
from broker.usecases.context import time_left

# Errors that mean "the database is away", not "the request is wrong".
CONNECTION_ERRORS = (
    OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError, asyncpg.AdminShutdownError, asyncpg.InterfaceError,
)
# Give up on a connection this long before the caller's deadline, so it hears UNAVAILABLE
# rather than DEADLINE_EXCEEDED: at most 50 ms, at most a tenth of what is left.
_MARGIN, _MARGIN_SHARE, _MIN_WAIT = 0.05, 0.1, 0.001


def guarded(method):
    """Connection failures become Unavailable; so does a statement cut off by statement_timeout."""
    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        except CONNECTION_ERRORS as exc:
            raise Unavailable(f"database unavailable: {type(exc).__name__}: {exc}") from exc
        except asyncpg.QueryCanceledError as exc:
            raise Unavailable(f"the database did not finish in time ({exc}); retry with backoff") from exc
    return wrapper


def wait_limit(acquire_timeout: float) -> float:
    """Seconds to wait for a pooled connection in the current call."""
    left = time_left()
    if left is None:
        return acquire_timeout
    return max(_MIN_WAIT, min(acquire_timeout, left - min(_MARGIN, max(left, 0.0) * _MARGIN_SHARE)))


class Connections:
    """`async with connections() as conn:` borrows a connection from the pool and returns it."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float) -> None:
        self.pool, self.acquire_timeout = pool, acquire_timeout

    def __call__(self) -> _Borrowed:
        return _Borrowed(self.pool, wait_limit(self.acquire_timeout))


class _Borrowed:
    __slots__ = ("_pool", "_timeout", "_conn")

    def __init__(self, pool: asyncpg.Pool, timeout: float) -> None:
        self._pool, self._timeout, self._conn = pool, timeout, None

    async def __aenter__(self) -> asyncpg.Connection:
        try:
            self._conn = await self._pool.acquire(timeout=self._timeout)
        except TimeoutError:
            raise Unavailable(
                f"no database connection came free within {self._timeout:.3g}s (all "
                f"{self._pool.get_max_size()} busy); retry with backoff") from None
        return self._conn

    async def __aexit__(self, *_exc) -> None:
        await self._pool.release(self._conn)
