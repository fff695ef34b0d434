"""Circuit breakers in PostgreSQL (the BreakerStore port). Every change is read, decided by the
entity (entities/breaker.py) and written back under the breaker's row lock, with its event row
in the same transaction; the claim reads the same table (breaker_claims.py)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from broker.entities.breaker import Breaker, BreakerEvent, BreakerState
from broker.entities.breaker_settings import BreakerChange
from broker.infra.pg import breaker_rows as br
from broker.infra.pg.conn import Connections, guarded
from broker.infra.pg.queues import WAKE
from broker.usecases.queues.breaker_ports import Step

# How long a replica trusts its list of the queues with a breaker (outcomes counted, probes
# claimed): a breaker configured on another replica is obeyed there within about this long.
NAMES_TTL = 1.0


class BreakerNames:
    """The queues that have a breaker, read at most `ttl` seconds ago; shared by the store and
    the job store's claim of one process. A change made here is seen here at once."""

    def __init__(self, ttl: float = NAMES_TTL) -> None:
        self._ttl, self._names, self._until = ttl, frozenset(), 0.0

    @property
    def cached(self) -> frozenset[str] | None:
        """The names if read less than `ttl` ago, else None."""
        return self._names if time.monotonic() < self._until else None

    async def read(self, conn) -> frozenset[str]:
        if time.monotonic() >= self._until:
            self._names = frozenset(r[0] for r in await conn.fetch(br.NAMES))
            self._until = time.monotonic() + self._ttl
        return self._names

    def stale(self) -> None:
        self._until = 0.0


class PgBreakerStore:
    """BreakerStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, names: BreakerNames, acquire_timeout: float = 10.0) -> None:
        self._conn, self._names = Connections(pool, acquire_timeout), names

    async def configured(self) -> frozenset[str]:
        """No connection is borrowed while the names are fresh (every Ack and Nack asks)."""
        cached = self._names.cached
        return cached if cached is not None else await self._read_names()

    @guarded
    async def _read_names(self) -> frozenset[str]:
        async with self._conn() as conn:
            return await self._names.read(conn)

    @guarded
    async def get(self, queue: str) -> Breaker | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(br.GET, queue)
        return br.breaker(row) if row else None

    @guarded
    async def list_breakers(self) -> list[Breaker]:
        async with self._conn() as conn:
            return [br.breaker(r) for r in await conn.fetch(br.LIST)]

    @guarded
    async def change(self, queue: str, change: BreakerChange,
                     now: datetime) -> tuple[Breaker | None, BreakerEvent | None]:
        async with self._conn() as conn, conn.transaction():
            rows = await conn.fetch(br.LOCK, [queue])
            before = br.breaker(rows[0]) if rows else None
            after, event = change.apply(queue, before, now)
            if after is None and before is not None:
                await conn.execute(br.DELETE, queue)
            elif after is not None and after != before:
                await conn.execute(br.PUT, *br.values(after))
            if event is not None:
                await _log(conn, [event])
        self._names.stale()
        return after, event

    @guarded
    async def step(self, queues: Sequence[str], step: Step, now: datetime) -> list[BreakerEvent]:
        async with self._conn() as conn, conn.transaction():
            return await _apply(conn, await conn.fetch(br.LOCK, list(queues)), step)

    @guarded
    async def cool_down(self, now: datetime, limit: int) -> list[BreakerEvent]:
        async with self._conn() as conn, conn.transaction():
            return await _apply(conn, await conn.fetch(br.LOCK_DUE, now, limit), lambda b: b.cool_down(now))


async def _apply(conn, locked, step: Step) -> list[BreakerEvent]:
    """Each locked breaker's next state written back, and the events of the changes logged."""
    events = []
    for row in locked:
        before = br.breaker(row)
        after, event = step(before)
        if after != before:
            await conn.execute(br.PUT, *br.values(after))
        if event is not None:
            events.append(event)
    await _log(conn, events)
    return events


async def _log(conn, events: list[BreakerEvent]) -> None:
    """The event rows; a breaker that lets jobs through again wakes the queue's long polls on
    every replica (a NOTIFY, delivered at commit)."""
    if not events:
        return
    await conn.execute(br.LOG, *br.event_columns(events))
    for queue in sorted({e.queue for e in events if e.to_state is not BreakerState.OPEN}):
        await conn.execute(WAKE, queue)
