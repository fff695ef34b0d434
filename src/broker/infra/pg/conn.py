"""Borrowing pooled connections, and what a failed database call becomes.

Every adapter on the pool borrows through `Connections`: it waits for a free connection no
longer than the acquire timeout, nor past the deadline of the call it serves (read from
broker.usecases.context, where the gRPC deadline stage puts it). Waiting in vain is
Unavailable, never a hang.

A failed call is Unavailable (gRPC UNAVAILABLE, HTTP 503: retry with backoff) when the database
or the connection to it is away or overloaded, so that the same call a little later, on another
connection, can succeed: `unavailable` decides, from the tables below. Anything else the driver
raises (a constraint, a value PostgreSQL refuses, SQL it does not know, asyncpg used wrongly) is
a defect of the broker and stays what it is: INTERNAL, logged with its traceback.
"""

from __future__ import annotations

import functools

import asyncpg

from broker.entities.errors import Unavailable
from broker.usecases.context import time_left

# Always "away", whatever the connection's state afterwards.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,                                     # refused, reset, unreachable, a failed name lookup
    TimeoutError,                                # connecting took longer than the pool allows
    asyncpg.PostgresConnectionError,             # SQLSTATE class 08: the connection failed or was refused
    asyncpg.OperatorInterventionError,           # 57: admin or crash shutdown, "cannot connect now"
                                                 # (starting, stopping, recovering), database dropped,
                                                 # idle_session_timeout, statement_timeout (57014)
    asyncpg.InsufficientResourcesError,          # 53: too many connections, out of memory, disk full
    asyncpg.TransactionRollbackError,            # 40: serialization failure, deadlock: rolled back
    asyncpg.ReadOnlySQLTransactionError,         # 25006: the server became a standby (a failover)
    asyncpg.IdleInTransactionSessionTimeoutError,  # 25P03 and 25P04: the server ended the connection
    asyncpg.TransactionTimeoutError,
    # A migration changed a table under a statement the connection had prepared (a rolling
    # upgrade): asyncpg has dropped it, and the retry prepares it again.
    asyncpg.InvalidCachedStatementError,
    # The driver lost its place in the protocol of a connection that is breaking: a shutdown
    # notice the server sent between two calls leaves it discarding messages until a reply that
    # never comes, and the next call on it fails with "cannot switch to state 12; another
    # operation (2) is in progress". The connection is dropped (_Borrowed). Its subclasses too:
    # ProtocolError (a reply cut mid-message), OutdatedSchemaCacheError (a type changed under a
    # cached statement; asyncpg has cleared the cache), TargetServerAttributeNotMatched.
    asyncpg.InternalClientError,
)
# asyncpg's InterfaceError says either "connection is closed", "pool is closing" (away), or that
# the driver was used wrongly; these subclasses are always the latter (a value it cannot encode,
# a bad setting, a feature one side lacks). The rest count as away only when the connection is
# found closed or the pool closing.
_MISUSE = (asyncpg.exceptions._base.DataError, asyncpg.ClientConfigurationError,
           asyncpg.UnsupportedClientFeatureError, asyncpg.UnsupportedServerFeatureError)
# A FATAL or PANIC error ends the connection whatever its SQLSTATE (at connect time: a rejected
# login, a database that does not exist): the broker cannot reach its database.
_CONNECTION_ENDED = ("FATAL", "PANIC")
# Give up on a connection this long before the caller's deadline, so it hears UNAVAILABLE
# rather than DEADLINE_EXCEEDED: at most 50 ms, at most a tenth of what is left.
_MARGIN, _MARGIN_SHARE, _MIN_WAIT = 0.05, 0.1, 0.001


def unavailable(exc: BaseException, connection_lost: bool = False) -> Unavailable | None:
    """The Unavailable that `exc`, raised by a database call, stands for; None when it is not
    the database being away but a defect. `connection_lost`: the connection was found closed
    (or the pool closing) after the failure."""
    if isinstance(exc, asyncpg.QueryCanceledError):
        return Unavailable(f"the database did not finish in time ({exc}); retry with backoff")
    if (isinstance(exc, CONNECTION_ERRORS)
            or (isinstance(exc, asyncpg.PostgresError) and _severity(exc) in _CONNECTION_ENDED)
            or (connection_lost and isinstance(exc, asyncpg.InterfaceError) and not isinstance(exc, _MISUSE))):
        return Unavailable(f"database unavailable: {type(exc).__name__}: {exc}")
    return None


def _severity(exc: asyncpg.PostgresError) -> str | None:
    return getattr(exc, "severity_en", None) or getattr(exc, "severity", None)


def guarded(method):
    """Database failures that mean "away" become Unavailable (see `unavailable`)."""
    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        except Exception as exc:
            translated = unavailable(exc)
            if translated is None:
                raise
            raise translated from exc
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
    """Failures that mean "away" leave as Unavailable; a connection whose protocol state the
    driver lost is closed rather than handed to the next caller."""

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
        except Exception as exc:
            translated = unavailable(exc, connection_lost=self._pool.is_closing())
            if translated is None:
                raise
            raise translated from exc
        return self._conn

    async def __aexit__(self, _type, exc, _tb) -> None:
        conn = self._conn
        lost = _closed(conn) or self._pool.is_closing()
        if isinstance(exc, asyncpg.InternalClientError) and not lost:
            conn.terminate()
        try:
            await self._pool.release(conn)
        except Exception as failed:  # the pool has terminated the connection
            if exc is None and unavailable(failed, connection_lost=True) is None:
                raise
        if isinstance(exc, Exception):
            translated = unavailable(exc, connection_lost=lost)
            if translated is not None:
                raise translated from exc


def _closed(conn: asyncpg.Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # the pool took it back already: it closed under the call
        return True
