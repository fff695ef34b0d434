"""Webhook sources made through AdminService, in PostgreSQL (the WebhookSourceStore port)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from broker.infra.pg.conn import Connections, guarded
from broker.usecases.webhook_sources.define import SourceSpec

_COLUMNS = "name, scheme, queue, kind, secrets, delivery_id, headers, created_at, updated_at"
GET = f"SELECT {_COLUMNS} FROM broker_webhook_sources WHERE name = $1"
LIST = f"SELECT {_COLUMNS} FROM broker_webhook_sources ORDER BY name"
CREATE = f"""INSERT INTO broker_webhook_sources ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)
ON CONFLICT (name) DO NOTHING RETURNING name"""
UPDATE = f"""UPDATE broker_webhook_sources SET scheme = $2, queue = $3, kind = $4, secrets = $5,
    delivery_id = $6, headers = $7, updated_at = $8
WHERE name = $1 RETURNING {_COLUMNS}"""
DELETE = "DELETE FROM broker_webhook_sources WHERE name = $1 RETURNING name"


def _spec(row) -> SourceSpec:
    return SourceSpec(row["name"], row["scheme"], row["queue"], row["kind"], tuple(row["secrets"]),
                      row["delivery_id"], tuple(row["headers"]), created_at=row["created_at"],
                      updated_at=row["updated_at"])


def _values(s: SourceSpec, now: datetime) -> list:
    return [s.name, s.scheme, s.queue, s.kind, list(s.secrets), s.delivery_id, list(s.headers), now]


class PgWebhookSourceStore:
    """WebhookSourceStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._conn = Connections(pool, acquire_timeout)

    @guarded
    async def create(self, spec: SourceSpec, now: datetime) -> bool:
        async with self._conn() as conn:
            return await conn.fetchval(CREATE, *_values(spec, now)) is not None

    @guarded
    async def get(self, name: str) -> SourceSpec | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(GET, name)
        return _spec(row) if row else None

    @guarded
    async def list_sources(self) -> list[SourceSpec]:
        async with self._conn() as conn:
            return [_spec(r) for r in await conn.fetch(LIST)]

    @guarded
    async def update(self, spec: SourceSpec, now: datetime) -> SourceSpec | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(UPDATE, *_values(spec, now))
        return _spec(row) if row else None

    @guarded
    async def delete(self, name: str) -> bool:
        async with self._conn() as conn:
            return await conn.fetchval(DELETE, name) is not None
