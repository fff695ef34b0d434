"""The PostgreSQL job store: every port method is one statement (or one short transaction)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from broker.entities.job import Event, Job, JobState, Reason
from broker.entities.lease import LEASE_EXPIRED, Failure, LeaseRef, Snapshot
from broker.entities.stats import MinuteCounts, QueueStats, WindowCounts, WorkerLeases
from broker.infra.pg import queries, rows, sql
from broker.infra.pg.conn import CONNECTION_ERRORS, Connections, guarded as _guarded  # noqa: F401
from broker.usecases.ports import Decider, Inserted, LeaseCall, NewJob


class PgJobStore:
    """JobStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._pool = pool
        self._conn = Connections(pool, acquire_timeout)

    @_guarded
    async def enqueue(self, jobs: Sequence[NewJob], now: datetime) -> tuple[list[Inserted], list[Event]]:
        columns = _columns(jobs, now)
        async with self._conn() as conn:
            result = await conn.fetch(sql.ENQUEUE, *columns, now)
            missing = [(r[1], r[3]) for r in result if not r[4]]
            existing = {}
            if missing:
                found = await conn.fetch(sql.EXISTING_KEYS, [m[0] for m in missing], [m[1] for m in missing])
                existing = {(f[0], f[1]): f[2] for f in found}
        inserted = [Inserted(r[0], True) if r[4] else Inserted(existing[(r[1], r[3])], False) for r in result]
        events = [Event(r[0], r[1], None, JobState.PENDING, Reason.ENQUEUE, 0, now, kind=r[2])
                  for r in result if r[4]]
        return inserted, events

    @_guarded
    async def claim(self, queues: Sequence[str], worker_id: str, limit: int,
                    lease_duration: float | None, now: datetime) -> tuple[list[Job], list[Event]]:
        async with self._conn() as conn:
            found = await conn.fetch(sql.CLAIM, queues, now, limit, worker_id, lease_duration)
        jobs = [rows.job(r) for r in found]
        return jobs, rows.lease_events(jobs, now)

    @_guarded
    async def extend(self, refs: Sequence[LeaseRef], lease_duration: float | None,
                     now: datetime) -> list[LeaseCall]:
        async with self._conn() as conn:
            found = await conn.fetch(sql.EXTEND, *_ref_columns(refs), now, lease_duration)
        return [_call(ref, r, JobState.RUNNING) for ref, r in zip(refs, found)]

    @_guarded
    async def complete(self, refs: Sequence[LeaseRef], now: datetime) -> tuple[list[LeaseCall], list[Event]]:
        async with self._conn() as conn:
            found = await conn.fetch(sql.COMPLETE, *_ref_columns(refs), now)
        calls = [_call(ref, r, JobState.SUCCEEDED) for ref, r in zip(refs, found)]
        events = [Event(c.ref.job_id, r["queue"], JobState.RUNNING, JobState.SUCCEEDED, Reason.ACK,
                        r["attempt"], now, kind=r["kind"], worker_id=r["worker_id"],
                        ran=None if r["ran"] is None else max(0.0, r["ran"]))
                  for c, r in zip(calls, found) if c.changed]
        return calls, _unique(events)

    @_guarded
    async def fail(self, items: Sequence[tuple[LeaseRef, Failure]], now: datetime,
                   decide: Decider) -> tuple[list[LeaseCall], list[Event]]:
        async with self._conn() as conn, conn.transaction():
            locked = {j.id: j for j in map(rows.job, await conn.fetch(
                sql.LOCK_FOR_FAILURE, [ref.job_id for ref, _ in items]))}
            todo = {}
            for ref, failure in items:
                job = locked.get(ref.job_id.lower())
                if job and job.state is JobState.RUNNING and job.lease_token == ref.lease_token:
                    todo.setdefault(job.id, (job, failure))
            changed = await self._fail(conn, list(todo.values()), now, decide, Reason.NACK, False)
        calls = []
        for ref, _ in items:
            job_id = ref.job_id.lower()
            done = changed.get(job_id)
            job = locked.get(job_id)
            if done and job.lease_token == ref.lease_token:  # not a stale ref beside the held one
                event, run_at = done
                at = run_at if event.to_state is JobState.PENDING else None
                calls.append(LeaseCall(ref, True, Snapshot(event.to_state, ref.lease_token), at))
            else:
                calls.append(LeaseCall(ref, False, job and Snapshot(job.state, job.lease_token, job.run_at)))
        return calls, [event for event, _ in changed.values()]

    @_guarded
    async def rescue_expired(self, now: datetime, limit: int, decide: Decider) -> list[Event]:
        async with self._conn() as conn, conn.transaction():
            jobs = [rows.job(r) for r in await conn.fetch(sql.LOCK_EXPIRED, now, limit)]
            changed = await self._fail(conn, [(j, LEASE_EXPIRED) for j in jobs], now, decide,
                                       Reason.EXPIRE, True)
        return [event for event, _ in changed.values()]

    async def _fail(self, conn, todo: list[tuple[Job, Failure]], now: datetime, decide: Decider,
                    reason: Reason, clear_token: bool) -> dict[str, tuple[Event, datetime]]:
        if not todo:
            return {}
        decisions = [decide(job, failure) for job, failure in todo]
        errors = [d.error or f.error for d, (_, f) in zip(decisions, todo)]
        found = await conn.fetch(
            sql.FAIL, [j.id for j, _ in todo], [d.to_state.value for d in decisions],
            [d.run_at for d in decisions], errors, now, clear_token, reason.value)
        return {r[0]: (Event(r[0], r[1], JobState.RUNNING, rows.state(r[3]), reason, r[4], now,
                             kind=r[2], worker_id=r[5], error=r[6], ran=rows.seconds_since(r[8], now)),
                       r[7]) for r in found}

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
    async def list_jobs(self, queue: str | None, state: JobState | None, limit: int,
                        after: tuple[datetime, str] | None) -> list[Job]:
        args = [a for a in (queue, state and state.value) if a] + list(after or ()) + [limit]
        statement = queries.list_jobs(bool(queue), bool(state), bool(after))
        async with self._planned() as conn:
            found = await conn.fetch(statement, *args)
        return [rows.job(r) for r in found]

    @_guarded
    async def stats(self, queues: Sequence[str], now: datetime) -> list[QueueStats]:
        async with self._planned() as conn:
            states = await conn.fetch(queries.STATS_STATES, list(queues), now)
            windows = await conn.fetch(queries.STATS_WINDOWS, list(queues), now)
        return _stats(states, windows)

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
        events = [Event(r[0], r[1], JobState.DEAD, JobState.PENDING, Reason.REDRIVE, r[3], now, kind=r[2])
                  for r in found]
        return [r[0] for r in found], events

    @_guarded
    async def cancel(self, job_id: str, now: datetime) -> tuple[Job | None, list[Event]]:
        async with self._conn() as conn:
            found = await conn.fetch(sql.CANCEL, job_id, now)
            row = await conn.fetchrow(queries.GET, job_id)
        events = [Event(r[0], r[1], rows.state(r[5]), JobState.CANCELLED, Reason.CANCEL, r[3], now,
                        kind=r[2], worker_id=r[4]) for r in found]
        return (rows.job(row) if row else None), events

    @_guarded
    async def purge(self, job_ids: Sequence[str], queue: str | None, state: JobState) -> int:
        statement, target = (queries.PURGE_QUEUE, queue) if queue else (queries.PURGE_IDS, list(job_ids))
        async with self._planned(readonly=False) as conn:
            return await conn.fetchval(statement, state.value, target)

    @_guarded
    async def prune(self, finished_before: datetime, limit: int) -> int:
        async with self._conn() as conn:
            return await conn.fetchval(queries.PRUNE, finished_before, limit)

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


def _unless(run_at: datetime, now: datetime) -> datetime | None:
    """NULL stands for `now` (the statement's own parameter): a timestamp costs ~2 us to encode."""
    return None if run_at == now else run_at


def _ref_columns(refs: Sequence[LeaseRef]) -> tuple[list[str], list[str]]:
    return [r.job_id for r in refs], [r.lease_token for r in refs]


def _call(ref: LeaseRef, row, changed_state: JobState) -> LeaseCall:
    if row["changed"]:
        return LeaseCall(ref, True, Snapshot(changed_state, ref.lease_token), row["at"])
    if row["state"] is None:
        return LeaseCall(ref, False, None)
    snapshot = Snapshot(rows.state(row["state"]), row["lease_token"], row["run_at"])
    return LeaseCall(ref, False, snapshot)


def _unique(events: list[Event]) -> list[Event]:
    """One event per job even when a call named the same lease twice."""
    return list({e.job_id: e for e in events}.values())


def _stats(states, windows) -> list[QueueStats]:
    counts: dict[str, dict] = {}
    for w in windows:
        entry = counts.setdefault(w["queue"], {"minute": [0] * 4, "hour": [0] * 4})
        values = [w["enqueued"], w["succeeded"], w["failed"], w["dead_lettered"]]
        entry["hour"] = [a + b for a, b in zip(entry["hour"], values)]
        if w["last_minute"]:
            entry["minute"] = [a + b for a, b in zip(entry["minute"], values)]
    by_queue = {s["queue"]: s for s in states}
    result = []
    for queue in sorted(set(by_queue) | set(counts)):
        s = by_queue.get(queue)
        c = counts.get(queue, {"minute": [0] * 4, "hour": [0] * 4})
        result.append(QueueStats(
            queue=queue,
            **({k: s[k] for k in ("ready", "scheduled", "retrying", "running", "succeeded", "dead",
                                  "cancelled")} if s else {}),
            oldest_ready_age=float(s["oldest_ready_age"]) if s else 0.0,
            last_minute=WindowCounts(*c["minute"]), last_hour=WindowCounts(*c["hour"]),
        ))
    return result
