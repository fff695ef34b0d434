"""The claims of PgJobStore: one caller's (claim), several callers' at once (claim_for, the
statements of claim_many.py) and the release of jobs leased for a caller that was gone."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime

from broker.entities.job import Event, Job
from broker.entities.lease import LeaseRef
from broker.infra.pg import claim_many, claims, queries, rows
from broker.infra.pg.breaker_claims import BreakerClaims, Lessee
from broker.infra.pg.conn import Connections, guarded
from broker.infra.pg.worker_store import ref_columns
from broker.usecases.ports import Taker


class ClaimCalls:
    """PgJobStore's claims (a mixin: it borrows the store's connections and its caches)."""

    _conn: Connections
    _breakers: BreakerClaims
    _on_rate_limited: Callable[[str], None] | None
    _limited_ttl: float
    _limited_names: frozenset[str]
    _limited_until: float
    _limited_changes: int

    @guarded
    async def claim(self, queues: Sequence[str], worker_id: str, limit: int,
                    lease_duration: float | None, now: datetime) -> tuple[list[Job], list[Event]]:
        found = await self._claim(queues, now, limit, claim_many.One(worker_id, lease_duration))
        return [rows.job(r) for r in found], rows.events(found, now)

    @guarded
    async def claim_for(self, queues: Sequence[str], takers: Sequence[Taker],
                        now: datetime) -> tuple[list[Job], list[Event]]:
        slots = claim_many.Slots([t.worker_id for t in takers for _ in range(t.limit)],
                                 [t.lease_duration for t in takers for _ in range(t.limit)])
        found = await self._claim(queues, now, sum(t.limit for t in takers), slots)
        return [rows.job(r) for r in found], rows.events(found, now)

    @guarded
    async def release(self, refs: Sequence[LeaseRef], now: datetime) -> list[Event]:
        async with self._conn() as conn:
            found = await conn.fetch(claim_many.RELEASE, *ref_columns(refs), now)
        return rows.events(found, now)

    async def _claim(self, queues: Sequence[str], now: datetime, limit: int, who: Lessee) -> list:
        """CLAIM for the queues without controls; then, with room left in the batch, the queues
        with a limit or a rate under their lock (claims.CLAIM_LIMITED), which come after the others;
        then the probes of HALF_OPEN breakers (breaker_claims.py). Each statement leases its jobs
        for the slots of `who` the ones before it left."""
        async with self._conn() as conn:
            plain = await self._breakers.statement(conn, queues)
            found = list(await conn.fetch(who.statement(plain), queues, now, limit, *who.args(0)))
            if len(found) < limit and (limited := await self._limited(conn, queues)):
                async with conn.transaction():
                    locked = await conn.fetch(queries.LOCK_LIMITED, limited, now)
                    if locked:
                        room = limit - len(found)
                        more = await conn.fetch(who.statement(claims.CLAIM_LIMITED), [r[0] for r in locked], now,
                                                room, *who.args(len(found)), *_locked_columns(locked))
                        self._count_rate_limited(locked, more, room)
                        found += more
            if len(found) < limit:
                found += await self._breakers.probes(conn, queues, now, limit - len(found), who, len(found))
        return found

    def _count_rate_limited(self, locked, leased, room: int) -> None:
        """Tell `on_rate_limited` of each queue whose bucket ran out before the batch was full."""
        if self._on_rate_limited is None:
            return
        for name, _, _, tokens in locked:
            if tokens is not None and int(tokens) < room and sum(r[1] == name for r in leased) >= int(tokens):
                self._on_rate_limited(name)

    def controls_changed(self) -> None:
        """A queue's controls changed through this process: read the counted queues afresh at
        the next claim (other replicas see the change within LIMITED_TTL)."""
        self._limited_until, self._limited_changes = 0.0, self._limited_changes + 1

    async def _limited(self, conn, queues: Sequence[str]) -> list[str]:
        """Which of `queues` have a concurrency limit, as read at most LIMITED_TTL ago. Only the
        choice to try CLAIM_LIMITED hangs on it: CLAIM leaves a limited queue alone from the
        moment its limit is set, and LOCK_LIMITED reads the limits as they are now."""
        if time.monotonic() >= self._limited_until:
            changes = self._limited_changes  # another claim (the callbacks' loop) may be reading it
            self._limited_names = frozenset(r[0] for r in await conn.fetch(queries.LIMITED_QUEUES))
            if changes == self._limited_changes:  # else a change committed during the read: re-read next time
                self._limited_until = time.monotonic() + self._limited_ttl
        return [q for q in queues if q in self._limited_names] if self._limited_names else []


def _locked_columns(locked) -> tuple[list, list, list]:
    """CLAIM_LIMITED's control columns from LOCK_LIMITED's rows: limits, per-key limits, tokens."""
    return [r[1] for r in locked], [r[2] for r in locked], [r[3] for r in locked]
