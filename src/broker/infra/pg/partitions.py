"""The event log's time partitions (migrations/0018_retention.sql): made ahead of time, and
dropped whole once every event in them is older than the retention, after the events of jobs
still there have moved to the default partition (broker_events_kept).

No step holds a lock that stops the hot path for long: a partition is made as a table of its own
and attached (which takes only a SHARE UPDATE EXCLUSIVE lock on broker_events, so the inserts go
on); a drop first finds, with no lock but the partition's own, which events to keep, then
detaches, copies those few and drops the partition under a short lock_timeout, and gives up for
this pass when the lock is not granted in time. Replicas take turns through an advisory lock."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import asyncpg

PARENT, KEPT = "broker_events", "broker_events_kept"
AHEAD = 3  # partitions made ahead of the current one, and at least this many seconds ahead:
AHEAD_SECONDS = 120.0
# A partition begins at least this long after now. Attaching one takes no lock the inserts wait
# for, so an insert already on its way into the default partition could find, when it arrives,
# the range it was routed by taken from it (and fail); none is on its way to a future range.
MARGIN = 10.0
LOCK_TIMEOUT = "200ms"  # how long a partition change may wait for (and so hold up) the event inserts
_TURN = 0x62726F6C  # the advisory lock replicas take turns on (migrate.py's is ...6B)

_PARTITIONS = r"""
SELECT c.relname, m[1]::timestamptz AS lo, m[2]::timestamptz AS hi
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid,
     LATERAL regexp_match(pg_get_expr(c.relpartbound, c.oid), 'FROM \(''([^'']*)''\) TO \(''([^'']*)''\)') m
WHERE i.inhparent = 'broker_events'::regclass AND m IS NOT NULL
ORDER BY lo
"""

# The jobs still there among a partition's events: their events move to the default partition.
_KEEP = f"""
SELECT coalesce(array_agg(DISTINCT e.job_id), '{{}}') FROM @p@ e
WHERE EXISTS (SELECT 1 FROM broker_jobs j WHERE j.id = e.job_id)
"""
# Again under the lock: a job pruned since the first look leaves its events behind.
_MOVE = f"""
INSERT INTO {KEPT} SELECT * FROM @p@ e
WHERE e.job_id = ANY($1::uuid[]) AND EXISTS (SELECT 1 FROM broker_jobs j WHERE j.id = e.job_id)
"""


@dataclass(frozen=True)
class Span:
    name: str
    lo: datetime
    hi: datetime


def wanted(now: datetime, width: float, ahead: int = AHEAD) -> list[tuple[datetime, datetime]]:
    """The partitions that should exist at `now`: the one holding now and those after it, `ahead`
    of them and AHEAD_SECONDS at least, on boundaries that are multiples of `width` seconds since
    the epoch."""
    step = max(1, round(width))
    first = math.floor(now.timestamp() / step) * step
    count = max(ahead, math.ceil((AHEAD_SECONDS + MARGIN) / step)) + 2
    at = [datetime.fromtimestamp(first + k * step, timezone.utc) for k in range(count)]
    return list(zip(at, at[1:]))


def missing(now: datetime, want: list[tuple[datetime, datetime]], have: list[Span]) -> list[tuple[datetime, datetime]]:
    """The parts of the wanted ranges no partition covers, from MARGIN after `now` on (what comes
    before stays the default partition's)."""
    out, start = [], now + timedelta(seconds=MARGIN)
    for lo, hi in want:
        lo = max(lo, start)
        for span in have:
            if span.lo <= lo < span.hi:
                lo = span.hi
            elif lo < span.lo < hi:
                hi = span.lo
        if lo < hi:
            out.append((lo, hi))
    return out


def name_of(lo: datetime) -> str:
    return f"{PARENT}_p{round(lo.timestamp() * 1_000_000)}"


async def partitions(conn: asyncpg.Connection) -> list[Span]:
    return [Span(r[0], r[1], r[2]) for r in await conn.fetch(_PARTITIONS)]


async def _turn(conn: asyncpg.Connection) -> bool:
    await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
    return await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", _TURN)


async def create(conn: asyncpg.Connection, lo: datetime, hi: datetime) -> str | None:
    """Make and attach the partition [lo, hi), starting after any event the default partition
    already holds in that range (those stay there). None: another replica's turn, no room, made
    meanwhile by another pass, or a lock not granted in time."""
    try:
        return await _create(conn, lo, hi)
    except asyncpg.LockNotAvailableError:
        return None


async def _create(conn: asyncpg.Connection, lo: datetime, hi: datetime) -> str | None:
    async with conn.transaction():
        if not await _turn(conn):
            return None
        # Another pass (this replica's loop, or another's) may have made it since our look.
        if any(s.lo < hi and lo < s.hi for s in await partitions(conn)):
            return None
        # Inserts that would land in the default partition wait the few milliseconds of this
        # transaction, so none arrives between the look and the attach (which would then fail).
        await conn.execute(f"LOCK TABLE {KEPT} IN ACCESS EXCLUSIVE MODE")
        newest = await conn.fetchval(f"SELECT max(at) FROM {KEPT} WHERE at >= $1 AND at < $2", lo, hi)
        if newest is not None:
            lo = newest + timedelta(microseconds=1)
        if lo >= hi:
            return None
        name = name_of(lo)
        await conn.execute(f"CREATE TABLE {name} (LIKE {PARENT} INCLUDING DEFAULTS)")
        await conn.execute(f"ALTER TABLE {PARENT} ATTACH PARTITION {name} "
                           f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')")
        return name


async def drop(conn: asyncpg.Connection, span: Span) -> int | None:
    """Drop one partition, its events of jobs still there moved to the default partition first;
    returns how many moved, None when it was not dropped (another replica's turn, or the lock
    was not granted in time: the next pass tries again)."""
    async with conn.transaction():
        if not await _turn(conn):
            return None
        await conn.execute("SET LOCAL enable_seqscan = on")  # a whole partition is read: let it scan
        keep = await conn.fetchval(_KEEP.replace("@p@", span.name))
        try:
            async with conn.transaction():  # a savepoint: a lock not granted ends this pass only
                await conn.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {span.name}")
        except asyncpg.LockNotAvailableError:
            return None
        moved = await conn.execute(_MOVE.replace("@p@", span.name), keep) if keep else "INSERT 0 0"
        await conn.execute(f"DROP TABLE {span.name}")
    return int(moved.split()[-1])


async def rotate(conn: asyncpg.Connection, now: datetime, drop_before: datetime, width: float) -> int:
    """One pass: make the partitions missing around `now`, drop those wholly before
    `drop_before`. Returns how many were dropped."""
    have = await partitions(conn)
    for lo, hi in missing(now, wanted(now, width), have):
        await create(conn, lo, hi)
    dropped = 0
    for span in have:
        if span.hi > drop_before:
            break
        if await drop(conn, span) is None:
            break
        dropped += 1
    return dropped
