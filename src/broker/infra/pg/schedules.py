"""Schedules in PostgreSQL (the ScheduleStore port): one statement per operation."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from broker.entities.retry import Jitter
from broker.entities.schedule import JobTemplate, MissedFires, Schedule, ScheduleDefinition
from broker.infra.pg.conn import Connections, guarded
from broker.usecases.schedules.ports import Declared

_COLUMNS = """name, cron, time_zone, job::text, missed, catch_up_limit, paused, declared, next_fire_at,
    last_fire_at, last_job_id, created_at, updated_at"""
CREATE = """INSERT INTO broker_schedules (name, cron, time_zone, job, missed, catch_up_limit, paused, declared,
    next_fire_at, created_at, updated_at) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $10)
ON CONFLICT (name) DO NOTHING RETURNING name"""
REPLACE = f"""UPDATE broker_schedules SET cron = $2, time_zone = $3, job = $4::jsonb, missed = $5,
    catch_up_limit = $6, next_fire_at = coalesce($7, next_fire_at), updated_at = $8,
    claimed_until = CASE WHEN $7 IS NULL THEN claimed_until END
WHERE name = $1 RETURNING {_COLUMNS}"""
DELETE = "DELETE FROM broker_schedules WHERE name = $1 RETURNING name"
GET = f"SELECT {_COLUMNS} FROM broker_schedules WHERE name = $1"
LIST = f"SELECT {_COLUMNS} FROM broker_schedules ORDER BY name"
SET_PAUSED = f"""UPDATE broker_schedules SET paused = $2, next_fire_at = coalesce($3, next_fire_at),
    updated_at = $4 WHERE name = $1 RETURNING {_COLUMNS}"""
CLAIM_DUE = f"""UPDATE broker_schedules SET claimed_until = $2
WHERE name IN (SELECT name FROM broker_schedules
               WHERE NOT paused AND next_fire_at <= $1 AND (claimed_until IS NULL OR claimed_until <= $1)
               ORDER BY next_fire_at LIMIT $3 FOR UPDATE SKIP LOCKED)
RETURNING {_COLUMNS}"""
ADVANCE = """UPDATE broker_schedules SET next_fire_at = $3, last_fire_at = $4, last_job_id = $5,
    claimed_until = NULL WHERE name = $1 AND next_fire_at = $2 RETURNING name"""
RECORD_TRIGGER = f"""UPDATE broker_schedules SET last_fire_at = $3, last_job_id = $2
WHERE name = $1 RETURNING {_COLUMNS}"""
# One file's worth at a time, whatever replicas start together.
_DECLARE_LOCK = 0x7363686564  # "sched"
DECLARE = """
WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
                         $7::timestamptz[])
        AS t(name, cron, time_zone, job, missed, catch_up_limit, next_fire_at)
), old AS (
    SELECT s.* FROM broker_schedules s JOIN input USING (name)
), up AS (
    INSERT INTO broker_schedules AS s (name, cron, time_zone, job, missed, catch_up_limit, declared,
        next_fire_at, created_at, updated_at)
    SELECT name, cron, time_zone, job::jsonb, missed, catch_up_limit, true, next_fire_at, $8, $8 FROM input
    ON CONFLICT (name) DO UPDATE SET cron = EXCLUDED.cron, time_zone = EXCLUDED.time_zone, job = EXCLUDED.job,
        missed = EXCLUDED.missed, catch_up_limit = EXCLUDED.catch_up_limit, declared = true,
        next_fire_at = CASE WHEN (s.cron, s.time_zone) = (EXCLUDED.cron, EXCLUDED.time_zone)
                            THEN s.next_fire_at ELSE EXCLUDED.next_fire_at END,
        updated_at = $8
    WHERE (s.cron, s.time_zone, s.job, s.missed, s.catch_up_limit, s.declared)
          IS DISTINCT FROM (EXCLUDED.cron, EXCLUDED.time_zone, EXCLUDED.job, EXCLUDED.missed,
                            EXCLUDED.catch_up_limit, true)
    RETURNING s.name
), gone AS (
    DELETE FROM broker_schedules WHERE declared AND name <> ALL($1::text[]) RETURNING name
)
SELECT 'created' AS change, name FROM up WHERE name NOT IN (SELECT name FROM old)
UNION ALL SELECT 'updated', name FROM up WHERE name IN (SELECT name FROM old)
UNION ALL SELECT 'deleted', name FROM gone
"""


def job_to_json(t: JobTemplate) -> str:
    return json.dumps({
        "queue": t.queue, "kind": t.kind, "payload": base64.b64encode(t.payload).decode(),
        "headers": dict(t.headers), "priority": t.priority, "max_attempts": t.max_attempts,
        "retry_initial": t.retry_initial, "retry_max": t.retry_max, "retry_multiplier": t.retry_multiplier,
        "retry_jitter": t.retry_jitter and t.retry_jitter.value, "lease_duration": t.lease_duration,
        "max_lease_expiries": t.max_lease_expiries,
    }, sort_keys=True)


def job_from_json(text: str) -> JobTemplate:
    d = json.loads(text)
    return JobTemplate(**{**d, "payload": base64.b64decode(d["payload"]),
                          "retry_jitter": d["retry_jitter"] and Jitter(d["retry_jitter"])})


def _schedule(r) -> Schedule:
    definition = ScheduleDefinition(r[0], r[1], job_from_json(r[3]), r[2], MissedFires(r[4]), r[5])
    return Schedule(definition, r[8], r[6], r[7], r[9], r[10], r[11], r[12])


def _definition_args(d: ScheduleDefinition) -> list:
    return [d.name, d.cron, d.time_zone, job_to_json(d.job), d.missed.value, d.catch_up_limit]


class PgScheduleStore:
    """ScheduleStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._conn = Connections(pool, acquire_timeout)

    @guarded
    async def create(self, schedule: Schedule, now: datetime) -> bool:
        async with self._conn() as conn:
            return await conn.fetchval(CREATE, *_definition_args(schedule.definition), schedule.paused,
                                       schedule.declared, schedule.next_fire_at, now) is not None

    @guarded
    async def replace(self, definition: ScheduleDefinition, next_fire_at: datetime | None,
                      now: datetime) -> Schedule | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(REPLACE, *_definition_args(definition), next_fire_at, now)
        return _schedule(row) if row else None

    @guarded
    async def delete(self, name: str) -> bool:
        async with self._conn() as conn:
            return await conn.fetchval(DELETE, name) is not None

    @guarded
    async def get(self, name: str) -> Schedule | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(GET, name)
        return _schedule(row) if row else None

    @guarded
    async def list_schedules(self) -> list[Schedule]:
        async with self._conn() as conn:
            return [_schedule(r) for r in await conn.fetch(LIST)]

    @guarded
    async def set_paused(self, name: str, paused: bool, next_fire_at: datetime | None,
                         now: datetime) -> Schedule | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(SET_PAUSED, name, paused, next_fire_at, now)
        return _schedule(row) if row else None

    @guarded
    async def claim_due(self, now: datetime, until: datetime, limit: int) -> list[Schedule]:
        async with self._conn() as conn:
            return sorted(map(_schedule, await conn.fetch(CLAIM_DUE, now, until, limit)),
                          key=lambda s: (s.next_fire_at, s.name))

    @guarded
    async def advance(self, name: str, expected_next: datetime, next_fire_at: datetime,
                      last_fire_at: datetime | None, last_job_id: str | None, now: datetime) -> bool:
        async with self._conn() as conn:
            return await conn.fetchval(ADVANCE, name, expected_next, next_fire_at, last_fire_at,
                                       last_job_id) is not None

    @guarded
    async def record_trigger(self, name: str, job_id: str, now: datetime) -> Schedule | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(RECORD_TRIGGER, name, job_id, now)
        return _schedule(row) if row else None

    @guarded
    async def apply_declared(self, schedules: Sequence[Schedule], now: datetime) -> Declared:
        columns = list(zip(*[[*_definition_args(s.definition), s.next_fire_at] for s in schedules])) or [()] * 7
        async with self._conn() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _DECLARE_LOCK)
            found = await conn.fetch(DECLARE, *map(list, columns), now)
        changes: dict[str, list[str]] = {"created": [], "updated": [], "deleted": []}
        for change, name in found:
            changes[change].append(name)
        return Declared(*(tuple(sorted(changes[k])) for k in ("created", "updated", "deleted")))
