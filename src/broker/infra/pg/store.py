"""The PostgreSQL job store: every port method is one statement (fail: a read, then one fenced
statement; the reaper and enqueue: one short transaction or two statements)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Sequence
from datetime import datetime

import asyncpg

from broker.entities.errors import InvalidArgument
from broker.entities.job import Event, Job, JobState, Reason, check_transition
from broker.entities.lease import LEASE_EXPIRED, Failure, LeaseRef
from broker.entities.stats import MinuteCounts, QueueStats, WindowCounts, WorkerLeases
from broker.infra.pg import callbacks_sql, queries, rows, sql
from broker.infra.pg.breaker_claims import BreakerClaims
from broker.infra.pg.claim_store import ClaimCalls
from broker.infra.pg.breakers import BreakerNames
from broker.infra.pg.conn import Connections, guarded as _guarded
from broker.infra.pg.operator_store import OperatorCalls
from broker.infra.pg.retention import RetentionCalls
from broker.infra.pg.worker_store import WorkerCalls, calls, ref_columns
from broker.usecases.ports import Decider, Inserted, LeaseCall, NewJob

# How long the store trusts its list of the queues with a concurrency limit: a queue given a
# limit is held back (never over its limit) for at most this long, on every replica.
LIMITED_TTL = 1.0


class PgJobStore(ClaimCalls, WorkerCalls, OperatorCalls, RetentionCalls):
    """JobStore on an asyncpg pool (the claims in claim_store.py, the snooze and progress calls in
    worker_store.py, the listings and retry_now in operator_store.py, prune and the event log's
    partitions in retention.py)."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0,
                 limited_ttl: float = LIMITED_TTL, breakers: BreakerNames | None = None,
                 on_rate_limited: Callable[[str], None] | None = None) -> None:
        """`on_rate_limited(queue)` hears of each claim that a queue's rate limit held back."""
        self._pool, self._limited_ttl, self._on_rate_limited = pool, limited_ttl, on_rate_limited
        self.breaker_names = breakers or BreakerNames()  # shared with the PgBreakerStore of this process
        self._breakers = BreakerClaims(self.breaker_names)
        self._conn = Connections(pool, acquire_timeout)
        self._limited_names: frozenset[str] = frozenset()
        self._limited_until = 0.0
        self._limited_changes = 0  # controls_changed calls: a read they overtook is not trusted

    @_guarded
    async def enqueue(self, jobs: Sequence[NewJob], now: datetime) -> tuple[list[Inserted], list[Event]]:
        columns = _columns(jobs, now)
        async with self._conn() as conn:
            try:
                result = await conn.fetch(sql.ENQUEUE, *columns, now, _refs(jobs), _keys(jobs))
            except asyncpg.PostgresError as exc:  # the insert trigger of migrations/0015
                raise InvalidArgument("payload_ref", "names an upload that expired") if exc.sqlstate == "BRK01" else exc
            missing = [(r[1], r[3]) for r in result if not r[4]]
            existing = {}
            if missing:
                found = await conn.fetch(sql.EXISTING_KEYS, [m[0] for m in missing], [m[1] for m in missing])
                existing = {(f[0], f[1]): f[2] for f in found}
        inserted = [Inserted(r[0], True) if r[4] else Inserted(existing[(r[1], r[3])], False) for r in result]
        return inserted, rows.events(result, now)

    @_guarded
    async def extend(self, refs: Sequence[LeaseRef], lease_duration: float | None,
                     now: datetime) -> list[LeaseCall]:
        async with self._conn() as conn:
            found = await conn.fetch(sql.EXTEND, *ref_columns(refs), now, lease_duration)
        return calls(refs, found)

    @_guarded
    async def complete(self, refs: Sequence[LeaseRef], now: datetime,
                       results: Sequence[bytes | None] | None = None) -> tuple[list[LeaseCall], list[Event]]:
        async with self._conn() as conn:
            found = await conn.fetch(callbacks_sql.COMPLETE, *ref_columns(refs), now,
                                     list(results) if results and any(r is not None for r in results) else None)
        return calls(refs, found), rows.events(found, now) + rows.deliveries(found, now)

    @_guarded
    async def fail(self, items: Sequence[tuple[LeaseRef, Failure]], now: datetime,
                   decide: Decider) -> tuple[list[LeaseCall], list[Event]]:
        """The held jobs are read, decided and failed without a lock in between: FAIL is fenced
        like every lease call, so a job that moved on meanwhile (the same Nack repeated, the
        reaper, a cancel) is left alone and reported as FAIL found it."""
        refs = [ref for ref, _ in items]
        async with self._conn() as conn:
            held = {j.id: j for j in map(rows.job, await conn.fetch(sql.HELD, *ref_columns(refs)))}
            todo = {}
            for ref, failure in items:  # the first failure named for a job decides where it goes
                job = held.get(ref.job_id.lower())
                if job is not None:
                    todo.setdefault(job.id, (job, failure))
            decided = _decide(list(todo.values()), decide, Reason.NACK)
            found = await conn.fetch(callbacks_sql.FAIL, *ref_columns(refs), *_per_ref(refs, decided), now)
        return calls(refs, found), rows.events(found, now) + rows.deliveries(found, now)

    @_guarded
    async def rescue_expired(self, now: datetime, limit: int, decide: Decider) -> list[Event]:
        async with self._conn() as conn, conn.transaction():
            jobs = [rows.job(r) for r in await conn.fetch(sql.LOCK_EXPIRED, now, limit)]
            if not jobs:
                return []
            decided = _decide([(j, LEASE_EXPIRED) for j in jobs], decide, Reason.EXPIRE)
            found = await conn.fetch(callbacks_sql.EXPIRE, *map(list, zip(*decided.values())), now)
        return rows.events(found, now) + rows.deliveries(found, now)

    @_guarded
    async def get(self, job_id: str) -> Job | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(queries.GET, job_id)
        return rows.job(row) if row else None

    @_guarded
    async def history(self, job_id: str) -> list[Event]:
        async with self._conn() as conn:
            return [rows.event(r) for r in await conn.fetch(queries.HISTORY, job_id)]

    @_guarded
    async def get_with_history(self, job_id: str) -> tuple[Job | None, list[Event]]:
        async with self._conn() as conn:
            row = await conn.fetchrow(queries.GET_WITH_HISTORY, job_id)
        if row is None:
            return None, []
        return rows.job(row), [rows.event(e) for e in row["history"]]

    @contextlib.asynccontextmanager
    async def _planned(self, readonly: bool = True):
        """A connection in a transaction whose statements are planned for their actual values,
        sequential scans allowed (the operators' reads and bulk changes: the best plan depends
        on the values). The pool's connections otherwise reuse generic, index-only plans
        (pool.PLANNING); SET LOCAL ends with the transaction, so the connection goes back to the
        pool unchanged."""
        async with self._conn() as conn, conn.transaction(readonly=readonly):
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = on")
            yield conn

    @_guarded
    async def stats(self, queues: Sequence[str], now: datetime) -> list[QueueStats]:
        async with self._planned() as conn:
            states = await conn.fetch(queries.STATS_STATES, list(queues), now)
            windows = await conn.fetch(queries.STATS_WINDOWS, list(queues), now)
        return rows.stats(states, windows)

    @_guarded
    async def workers(self, now: datetime) -> list[WorkerLeases]:
        async with self._planned() as conn:
            return [WorkerLeases(r[0], r[1], r[2], r[3]) for r in await conn.fetch(queries.WORKERS)]

    @_guarded
    async def throughput(self, queues: Sequence[str], since: datetime, now: datetime) -> list[MinuteCounts]:
        async with self._planned() as conn:
            found = await conn.fetch(queries.THROUGHPUT, list(queues), since, now)
        return [MinuteCounts(r[0], r[1], WindowCounts(r[2], r[3], r[4], r[5])) for r in found]

    @_guarded
    async def redrive(self, job_ids: Sequence[str], queue: str | None, reset_attempts: bool,
                      now: datetime) -> tuple[list[str], list[Event]]:
        statement, target = (sql.REDRIVE_QUEUE, queue) if queue else (sql.REDRIVE_IDS, list(job_ids))
        async with self._conn() as conn:
            found = await conn.fetch(statement, now, reset_attempts, target)
        return [r[0] for r in found], rows.events(found, now)

    @_guarded
    async def cancel(self, job_id: str, now: datetime) -> tuple[Job | None, list[Event]]:
        async with self._conn() as conn:
            found = await conn.fetch(callbacks_sql.CANCEL, job_id, now)
            row = await conn.fetchrow(queries.GET, job_id)
        return (rows.job(row) if row else None), rows.events(found, now) + rows.deliveries(found, now)

    @_guarded
    async def purge(self, job_ids: Sequence[str], queue: str | None, state: JobState) -> int:
        statement, target = (queries.PURGE_QUEUE, queue) if queue else (queries.PURGE_IDS, list(job_ids))
        async with self._planned(readonly=False) as conn:
            return await conn.fetchval(statement, state.value, target)

    @_guarded
    async def ping(self) -> None:
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1")


def _columns(jobs: Sequence[NewJob], now: datetime) -> list[list]:
    return [
        [j.queue for j in jobs], [j.kind for j in jobs], [j.payload for j in jobs],
        [json.dumps(j.headers) if j.headers else None for j in jobs],
        [j.idempotency_key for j in jobs], [j.priority for j in jobs], [_unless(j.run_at, now) for j in jobs],
        [j.max_attempts for j in jobs], [j.retry.initial_delay for j in jobs],
        [j.retry.max_delay for j in jobs], [j.retry.multiplier for j in jobs],
        [j.retry.jitter.value for j in jobs], [j.lease_duration for j in jobs],
        [j.max_lease_expiries for j in jobs],
    ]


def _refs(jobs: Sequence[NewJob]) -> list[str | None]:
    return [rows.payload_ref_text(j.payload_ref) for j in jobs]


def _keys(jobs: Sequence[NewJob]) -> list[str | None] | None:
    """The jobs' concurrency keys; NULL when none has one (unnest pads a NULL array with NULLs)."""
    return [j.concurrency_key for j in jobs] if any(j.concurrency_key for j in jobs) else None


def _unless(run_at: datetime, now: datetime) -> datetime | None:
    """NULL stands for `now` (the statement's own parameter): a timestamp costs ~2 us to encode."""
    return None if run_at == now else run_at


def _decide(todo: list[tuple[Job, Failure]], decide: Decider,
            reason: Reason) -> dict[str, tuple[str, str, datetime | None, str]]:
    """Where each failed attempt goes, checked against its move before anything changes (one
    failing decision changes nothing): job id -> (id, next state, run_at, error)."""
    decided = {}
    for job, failure in todo:
        decision = decide(job, failure)
        check_transition(job.id, job.state, decision.to_state, reason)
        decided[job.id] = (job.id, decision.to_state.value, decision.run_at, decision.error or failure.error)
    return decided


def _per_ref(refs: Sequence[LeaseRef], decided: dict) -> tuple[list, list, list]:
    """FAIL's decision columns, one row per ref: its job's decision, NULLs for a job none holds."""
    none = (None, None, None, None)
    chosen = [decided.get(ref.job_id.lower(), none) for ref in refs]
    return [c[1] for c in chosen], [c[2] for c in chosen], [c[3] for c in chosen]
