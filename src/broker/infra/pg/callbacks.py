"""Callback subscriptions in PostgreSQL (the SubscriptionStore port). The statements that move
jobs read the same table to make their deliveries (callbacks_sql.py)."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from broker.entities.callback import CallbackEvent, Subscription
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra.pg.conn import Connections, guarded

_COLUMNS = """name, url, events, queue, kind, secrets, max_attempts, retry_initial, retry_max,
    retry_multiplier, retry_jitter, created_at, updated_at"""
GET = f"SELECT {_COLUMNS} FROM broker_callbacks WHERE name = $1"
LIST = f"SELECT {_COLUMNS} FROM broker_callbacks ORDER BY name"
CREATE = f"""INSERT INTO broker_callbacks ({_COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)
ON CONFLICT (name) DO NOTHING RETURNING name"""
UPDATE = f"""UPDATE broker_callbacks SET url = $2, events = $3, queue = $4, kind = $5, secrets = $6,
    max_attempts = $7, retry_initial = $8, retry_max = $9, retry_multiplier = $10, retry_jitter = $11,
    updated_at = $12
WHERE name = $1 RETURNING {_COLUMNS}"""
DELETE = "DELETE FROM broker_callbacks WHERE name = $1 RETURNING name"


def _subscription(row) -> Subscription:
    retry = RetryPolicy(row["retry_initial"], row["retry_max"], row["retry_multiplier"], Jitter(row["retry_jitter"]))
    return Subscription(row["name"], row["url"], tuple(CallbackEvent(e) for e in row["events"]),
                        tuple(row["secrets"]), row["queue"], row["kind"], row["max_attempts"], retry,
                        row["created_at"], row["updated_at"])


def _values(s: Subscription, now: datetime) -> list:
    r = s.retry
    return [s.name, s.url, [e.value for e in s.events], s.queue, s.kind, list(s.secrets), s.max_attempts,
            r.initial_delay, r.max_delay, r.multiplier, r.jitter.value, now]


class PgSubscriptionStore:
    """SubscriptionStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._conn = Connections(pool, acquire_timeout)

    @guarded
    async def create(self, subscription: Subscription, now: datetime) -> bool:
        async with self._conn() as conn:
            return await conn.fetchval(CREATE, *_values(subscription, now)) is not None

    @guarded
    async def get(self, name: str) -> Subscription | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(GET, name)
        return _subscription(row) if row else None

    @guarded
    async def list_subscriptions(self) -> list[Subscription]:
        async with self._conn() as conn:
            return [_subscription(r) for r in await conn.fetch(LIST)]

    @guarded
    async def update(self, subscription: Subscription, now: datetime) -> Subscription | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(UPDATE, *_values(subscription, now))
        return _subscription(row) if row else None

    @guarded
    async def delete(self, name: str) -> bool:
        async with self._conn() as conn:
            return await conn.fetchval(DELETE, name) is not None
