"""The broker's record of its payload objects in PostgreSQL (the UploadRecords port). The
triggers of migrations/0015_payload_objects.sql keep the expiry in step with the jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from broker.infra.pg.conn import Connections, guarded
from broker.usecases.payloads.ports import UploadRecord

ADD = """INSERT INTO broker_payloads (key, size, sha256, verified, created_at, expires_at)
VALUES ($1, $2, $3, $4, $5, $6)"""
FIND = "SELECT key, size, sha256, verified, expires_at FROM broker_payloads WHERE key = ANY($1::text[])"
VERIFIED = "UPDATE broker_payloads SET verified = true WHERE key = $1"
# Locked rows are skipped: an insert of a job that references one holds its lock until it commits,
# and then a job references it. The NOT EXISTS re-checks the jobs under the row lock.
TAKE = """DELETE FROM broker_payloads WHERE key IN (
    SELECT p.key FROM broker_payloads p
    WHERE p.expires_at <= $1
      AND NOT EXISTS (SELECT 1 FROM broker_jobs j WHERE j.payload_key = p.key)
    ORDER BY p.expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING key"""
PUT_BACK = """INSERT INTO broker_payloads (key, size, sha256, verified, created_at, expires_at)
SELECT k, 0, '', false, now(), '-infinity' FROM unnest($1::text[]) AS k ON CONFLICT (key) DO NOTHING"""


class PgUploadRecords:
    """UploadRecords on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._conn = Connections(pool, acquire_timeout)

    @guarded
    async def add(self, record: UploadRecord, now: datetime) -> None:
        async with self._conn() as conn:
            await conn.execute(ADD, record.key, record.size, record.sha256, record.verified, now,
                               record.expires_at)

    @guarded
    async def find(self, keys: Sequence[str]) -> dict[str, UploadRecord]:
        async with self._conn() as conn:
            found = await conn.fetch(FIND, list(keys))
        return {r[0]: UploadRecord(r[0], r[1], r[2], r[3], r[4]) for r in found}

    @guarded
    async def mark_verified(self, key: str) -> None:
        async with self._conn() as conn:
            await conn.execute(VERIFIED, key)

    @guarded
    async def take_collectable(self, now: datetime, limit: int) -> list[str]:
        async with self._conn() as conn:
            return [r[0] for r in await conn.fetch(TAKE, now, limit)]

    @guarded
    async def expire_now(self, keys: Sequence[str]) -> None:
        async with self._conn() as conn:
            await conn.execute(PUT_BACK, list(keys))
