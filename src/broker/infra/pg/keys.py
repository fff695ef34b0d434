"""API keys in PostgreSQL, and a short-lived cache in front so that authentication does not cost
a database round trip per RPC, nor one per made-up key id."""

from __future__ import annotations

import asyncio
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
IDS = "SELECT id FROM broker_api_keys"
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
    async def ids(self) -> set[str]:
        async with self._conn() as conn:
            return {r[0] for r in await conn.fetch(IDS)}

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
    """Remembers found keys for `ttl` seconds, at most `size` of them (least recently used go
    first): a revoked key is refused by every broker within `ttl` seconds.

    A key id nobody has is answered from the set of every key id there is, read in one query at
    most once per `ttl` (and only when a lookup needs it), never with a lookup of its own: a flood
    of made-up key ids costs the database nothing more, and memory only what the table holds. A
    key created behind this store's back (`broker keys create`, another replica) therefore works
    within `ttl` seconds; one created through it, at once."""

    def __init__(self, inner: KeyStore, ttl: float = 5.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._inner, self._ttl, self._size, self._clock = inner, ttl, size, clock
        self._entries: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()
        self._ids: frozenset[str] = frozenset()
        self._ids_until = float("-inf")
        self._reading_ids = asyncio.Lock()

    async def find(self, key_id: str) -> ApiKey | None:
        now = self._clock()
        entry = self._entries.get(key_id)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(key_id)
            return entry[1]
        if key_id not in await self._key_ids(now):
            return None
        key = await self._inner.find(key_id)
        if key is not None:
            self._entries[key_id] = (now + self._ttl, key)
            self._entries.move_to_end(key_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return key

    async def _key_ids(self, now: float) -> frozenset[str]:
        if self._ids_until > now:
            return self._ids
        async with self._reading_ids:  # one read for all the lookups waiting on it
            if self._ids_until <= self._clock():
                ids = frozenset(await self._inner.ids())
                self._ids, self._ids_until = ids, self._clock() + self._ttl
        return self._ids

    async def ids(self) -> set[str]:
        return set(await self._inner.ids())

    async def add(self, key: ApiKey) -> None:
        await self._inner.add(key)
        self._entries.pop(key.id, None)
        self._ids |= {key.id}

    async def list_keys(self) -> list[ApiKey]:
        return await self._inner.list_keys()

    async def revoke(self, key_id: str, now: datetime) -> ApiKey | None:
        self._entries.pop(key_id, None)
        return await self._inner.revoke(key_id, now)
