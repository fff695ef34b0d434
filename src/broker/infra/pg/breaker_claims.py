"""The claim and the breakers. A queue without a breaker costs the claim nothing: the store
runs sql.CLAIM as it is unless an asked queue has a breaker (BreakerNames, read at most about a
second ago), and then CLAIM_BREAKERS, which also leaves the queues whose breaker is not CLOSED
alone. A HALF_OPEN breaker's probes are claimed under its row lock (LOCK_PROBING, then
CLAIM_PROBES as a statement of its own, then the count of probes leased written back), so two
claimers on any replicas never lease more probes than the breaker lets through. A half-open
queue that also has counted controls (a concurrency limit, a per-key limit or a rate) has its
queue row locked after the breaker's and its probes claimed by claims.CLAIM_LIMITED, at most its
probe room: the probes obey every limit and take their tokens from the bucket."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from broker.entities.job import JobState
from broker.infra.pg import breaker_rows as br
from broker.infra.pg import claims
from broker.infra.pg.breakers import BreakerNames
from broker.infra.pg.claim_many import One, Slots
from broker.infra.pg.controls import COUNTED, tokens
from broker.infra.pg.moves import among
from broker.infra.pg.sql import CLAIM, _claim

Lessee = One | Slots

_PLAIN = "WHERE u.name NOT IN (SELECT name FROM controls)"
assert CLAIM.count(_PLAIN) == 1, "breaker_claims: sql.CLAIM's choice of queues moved"

# The condition a breaker holds its queue back by (entities.breaker.Breaker.holds_back).
HELD_BACK = "SELECT queue FROM broker_queue_breakers WHERE queue = ANY($1::text[]) AND state <> 'closed'"

CLAIM_BREAKERS = CLAIM.replace(_PLAIN, f"{_PLAIN} AND u.name NOT IN ({HELD_BACK})")

# The HALF_OPEN breakers of the asked queues ($1) that are not paused, locked.
LOCK_PROBING = f"""SELECT {br.COLUMNS} FROM broker_queue_breakers b
WHERE queue = ANY($1::text[]) AND state = 'half_open' AND NOT forced
    AND NOT EXISTS (SELECT 1 FROM broker_queues q WHERE q.name = b.queue AND q.paused)
ORDER BY queue FOR UPDATE"""

# $1 the locked queues, $6 their probe room (Breaker.probe_room); a queue that also has a
# concurrency limit gets no more than its room under it (no other claim takes its jobs meanwhile:
# the plain and the limited claims leave it alone while its breaker is not closed).
CLAIM_PROBES = _claim(
    controls=f"""room AS (
    SELECT l.name, greatest(least(l.cap, coalesce(c.concurrency_limit - (SELECT count(*) FROM broker_jobs r
        WHERE r.queue = l.name AND {among("r.state", (JobState.RUNNING,))}), l.cap)), 0) AS room
    FROM unnest($1::text[], $6::int[]) AS l(name, cap) LEFT JOIN broker_queues c ON c.name = l.name
), """,
    queues="room AS q", room="least($3, q.room)")

# The counted queues among the probing ones ($1), locked after their breakers (no statement locks
# a breaker after a queue row), with their controls as queries.LOCK_LIMITED reads them at now ($2).
LOCK_COUNTED = f"""SELECT name, concurrency_limit, per_key_concurrency, {tokens("$2")} AS tokens
FROM broker_queues WHERE name = ANY($1::text[]) AND {COUNTED} ORDER BY name FOR UPDATE"""


class BreakerClaims:
    """The breakers' part of PgJobStore.claim."""

    def __init__(self, names: BreakerNames) -> None:
        self._names = names

    async def statement(self, conn, queues: Sequence[str]) -> str:
        """The plain claim for these queues: CLAIM, or CLAIM_BREAKERS when one of them has a breaker."""
        names = await self._names.read(conn)
        return CLAIM_BREAKERS if names and not names.isdisjoint(queues) else CLAIM

    async def probes(self, conn, queues: Sequence[str], now: datetime, limit: int, who: Lessee,
                     taken: int = 0) -> list:
        """The probes of the HALF_OPEN breakers among `queues`, at most `limit` rows in all, leased
        for `who` (claim_many.py) after the `taken` jobs its claim leased before."""
        names = await self._names.read(conn)
        asked = [q for q in queues if q in names] if names else []
        if not asked:
            return []
        async with conn.transaction():
            breakers = [br.breaker(r) for r in await conn.fetch(LOCK_PROBING, asked)]
            open_ = [b for b in breakers if b.probe_room > 0]
            if not open_:
                return []
            found = await _claim_probes(conn, open_, now, limit, who, taken)
            leased = Counter(r[1] for r in found)
            for b in open_:
                if leased[b.queue]:
                    await conn.execute(br.PUT, *br.values(b.leased(leased[b.queue])))
        return found


async def _claim_probes(conn, open_: list, now: datetime, limit: int, who: Lessee, taken: int) -> list:
    """CLAIM_PROBES for the queues without counted controls; CLAIM_LIMITED, one queue at a time
    with the batch cut to its probe room, for the others."""
    counted = {r[0]: r for r in await conn.fetch(LOCK_COUNTED, [b.queue for b in open_], now)}
    plain = [b for b in open_ if b.queue not in counted]
    found = list(await conn.fetch(who.statement(CLAIM_PROBES), [b.queue for b in plain], now, limit,
                                  *who.args(taken), [b.probe_room for b in plain])) if plain else []
    for b in open_:
        r = counted.get(b.queue)
        if r is not None and len(found) < limit:
            found += await conn.fetch(who.statement(claims.CLAIM_LIMITED), [r[0]], now,
                                      min(limit - len(found), b.probe_room), *who.args(taken + len(found)),
                                      [r[1]], [r[2]], [r[3]])
    return found
