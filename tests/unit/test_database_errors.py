"""Which driver errors mean "the database is away, retry" (Unavailable: UNAVAILABLE, 503) and which
are defects (INTERNAL): the table in broker.infra.pg.conn, class by class."""

from __future__ import annotations

import asyncpg
import pytest

from broker.entities.errors import Unavailable
from broker.infra.pg.conn import guarded, unavailable


def server_error(sqlstate: str, severity: str = "ERROR", message: str = "from the server"):
    """An error as asyncpg builds it from the server's ErrorResponse."""
    return asyncpg.PostgresError.new({"S": severity, "V": severity, "C": sqlstate, "M": message})


AWAY = [
    ConnectionRefusedError(111, "Connect call failed"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError("Name or service not known"),
    TimeoutError(),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.ConnectionFailureError("x"),
    asyncpg.ClientCannotConnectError("x"),
    asyncpg.ConnectionRejectionError("x"),
    asyncpg.ProtocolViolationError("x"),
    server_error("57P01", "FATAL", "terminating connection due to administrator command"),
    server_error("57P02", "FATAL", "terminating connection because of crash of another server process"),
    server_error("57P03", "FATAL", "the database system is shutting down"),
    server_error("57P04", "FATAL", "terminating connection due to database dropped"),
    server_error("57P05", "FATAL", "terminating connection due to idle-session timeout"),
    server_error("57014", "ERROR", "canceling statement due to statement timeout"),
    server_error("53300", "FATAL", "sorry, too many clients already"),
    server_error("53200", "ERROR", "out of memory"),
    server_error("53100", "ERROR", "could not extend file: No space left on device"),
    server_error("40001", "ERROR", "could not serialize access due to concurrent update"),
    server_error("40P01", "ERROR", "deadlock detected"),
    server_error("25006", "ERROR", "cannot execute INSERT in a read-only transaction"),
    server_error("25P03", "FATAL", "terminating connection due to idle-in-transaction timeout"),
    asyncpg.InvalidCachedStatementError("cached statement plan is invalid"),
    # Any FATAL ends the session, e.g. at connect time.
    server_error("28P01", "FATAL", 'password authentication failed for user "broker"'),
    server_error("3D000", "FATAL", 'database "broker" does not exist'),
    asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    asyncpg.InternalClientError("cannot switch to state 15; another operation (2) is in progress"),
    asyncpg.InternalClientError("not connected"),
    asyncpg.exceptions.ProtocolError("unexpected trailing 3 bytes in buffer"),
    asyncpg.exceptions.OutdatedSchemaCacheError("the type of column changed"),
    asyncpg.exceptions.TargetServerAttributeNotMatched("None of the hosts match the target attribute"),
]

DEFECTS = [
    server_error("23505", "ERROR", "duplicate key value violates unique constraint"),
    server_error("23502", "ERROR", "null value in column violates not-null constraint"),
    server_error("22008", "ERROR", "date/time field value out of range"),
    server_error("22P02", "ERROR", "invalid input syntax for type uuid"),
    server_error("42601", "ERROR", "syntax error at or near"),
    server_error("42703", "ERROR", "column does not exist"),
    server_error("42P01", "ERROR", "relation does not exist"),
    server_error("XX000", "ERROR", "internal error"),
    # asyncpg refusing to encode an argument (re-raised as the server's DataError class).
    asyncpg.DataError("invalid input for query argument $1: ... (date value out of range)"),
    asyncpg.exceptions._base.DataError("invalid input for query argument $1"),
    asyncpg.InterfaceError("the server expects 2 arguments for this query, 3 were passed"),
    asyncpg.UnsupportedClientFeatureError("x"),
    ValueError("not a database error at all"),
]


@pytest.mark.parametrize("exc", AWAY, ids=lambda e: f"{type(e).__name__}:{getattr(e, 'sqlstate', '')}")
def test_the_database_being_away_is_unavailable(exc):
    translated = unavailable(exc)
    assert isinstance(translated, Unavailable)
    assert str(exc) in str(translated)


@pytest.mark.parametrize("exc", DEFECTS, ids=lambda e: f"{type(e).__name__}:{getattr(e, 'sqlstate', '')}")
def test_defects_stay_what_they_are(exc):
    assert unavailable(exc) is None


@pytest.mark.parametrize("exc", [
    asyncpg.InterfaceError("cannot perform operation: connection is closed"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.InterfaceError("cannot call Connection.fetch(): connection has been released back to the pool"),
])
def test_an_interface_error_is_away_when_the_connection_was_lost(exc):
    assert unavailable(exc) is None
    assert isinstance(unavailable(exc, connection_lost=True), Unavailable)


def test_a_value_the_driver_cannot_encode_is_a_defect_even_on_a_lost_connection():
    assert unavailable(asyncpg.exceptions._base.DataError("bad value"), connection_lost=True) is None


def test_a_statement_timeout_says_so():
    assert "did not finish in time" in str(unavailable(server_error("57014")))


class _Store:
    def __init__(self, exc):
        self.exc = exc

    @guarded
    async def call(self):
        raise self.exc


async def test_guarded_translates_the_family_and_lets_defects_through():
    with pytest.raises(Unavailable) as caught:
        await _Store(asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress")).call()
    assert isinstance(caught.value.__cause__, asyncpg.InternalClientError)
    with pytest.raises(asyncpg.UniqueViolationError):
        await _Store(asyncpg.UniqueViolationError("duplicate key")).call()
