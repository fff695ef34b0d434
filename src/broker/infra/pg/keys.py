"""API keys in PostgreSQL, and a short-lived cache in front so that authentication does not cost
a database round trip per RPC."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

import asyncpg

from broker.entities.auth import ApiKey, Role
from broker.infra.pg.conn import Connections, guarded
from broker.usecases.ports import KeyStore

_COLUMNS = "id, name, role, token_hash, created_at, revoked_at"
ADD = "INSERT INTO broker_api_keys (id, name, role, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)"
FIND = f"SELECT {_COLUMNS} FROM broker_api_keys WHERE id = $1"
LIST = f"SELECT {_COLUMNS} FROM broker_api_keys ORDER BY created_at, id"
REVOKE = f"""UPDATE broker_api_keys SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1
RETURNING {_COLUMNS}"""


def _key(row) -> ApiKey:
    return ApiKey(row[0], row[1], Role(row[2]), bytes(row[3]), row[4], row[5])


class PgKeyStore:
    """KeyStore on an asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool, acquire_timeout: float = 10.0) -> None:
        self._conn = Connections(pool, acquire_timeout)

    @guarded
    async def add(self, key: ApiKey) -> None:
        async with self._conn() as conn:
            await conn.execute(ADD, key.id, key.name, key.role.value, key.token_hash, key.created_at)

    @guarded
    async def find(self, key_id: str) -> ApiKey | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(FIND, key_id)
        return _key(row) if row else None

    @guarded
    async def list_keys(self) -> list[ApiKey]:
        async with self._conn() as conn:
            return [_key(r) for r in await conn.fetch(LIST)]

    @guarded
    async def revoke(self, key_id: str, now: datetime) -> ApiKey | None:
        async with self._conn() as conn:
            row = await conn.fetchrow(REVOKE, key_id, now)
        return _key(row) if row else None


class CachedKeyStore:
    """Remembers lookups (found or not) for `ttl` seconds, at most `size` of them (least recently
    used go first). A revoked key is refused by every broker within `ttl` seconds."""

    def __init__(self, inner: KeyStore, ttl: float = 5.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._inner, self._ttl, self._size, self._clock = inner, ttl, size, clock
        self._entries: OrderedDict[str, tuple[float, ApiKey | None]] = OrderedDict()

    async def find(self, key_id: str) -> ApiKey | None:
        now = self._clock()
        entry = self._entries.get(key_id)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(key_id)
            return entry[1]
        key = await self._inner.find(key_id)
        self._entries[key_id] = (now + self._ttl, key)
        self._entries.move_to_end(key_id)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return key

    async def add(self, key: ApiKey) -> None:
        await self._inner.add(key)
        self._entries.pop(key.id, None)

    async def list_keys(self) -> list[ApiKey]:
        return await self._inner.list_keys()

    async def revoke(self, key_id: str, now: datetime) -> ApiKey | None:
        self._entries.pop(key_id, None)
        return await self._inner.revoke(key_id, now)
