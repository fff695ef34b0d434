"""API keys: tokens, hashes, roles; Authenticate; the key cache; key management."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from broker.entities.auth import ApiKey, Permission, Role, hash_token, key_id_of, new_token
from broker.entities.errors import InvalidArgument, NotFound, Unauthenticated
from broker.infra.pg.keys import CachedKeyStore
from broker.usecases.authenticate import REFUSED, Authenticate
from broker.usecases.keys.create import CreateKey
from broker.usecases.keys.listing import ListKeys
from broker.usecases.keys.revoke import RevokeKey

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)


class Clock:
    def now(self):
        return NOW


class MemoryKeys:
    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.finds = self.id_reads = 0

    async def add(self, key):
        self.keys[key.id] = key

    async def find(self, key_id):
        self.finds += 1
        return self.keys.get(key_id)

    async def ids(self):
        self.id_reads += 1
        return set(self.keys)

    async def list_keys(self):
        return sorted(self.keys.values(), key=lambda k: k.created_at)

    async def revoke(self, key_id, now):
        key = self.keys.get(key_id)
        if key is None:
            return None
        from dataclasses import replace
        self.keys[key_id] = replace(key, revoked_at=key.revoked_at or now)
        return self.keys[key_id]


def test_tokens_are_random_and_name_their_key():
    (id1, t1), (id2, t2) = new_token(), new_token()
    assert id1 != id2 and t1 != t2
    assert key_id_of(t1) == id1 and len(t1) > 50
    for bad in ("", "brk", "brk__x", "xyz_0123456789abcdef_secret", "brk_0123456789ABCDEF_s", "brk_0123_secret"):
        assert key_id_of(bad) is None


def test_roles_grant_permissions():
    assert Role.PRODUCER.allows(Permission.ENQUEUE) and not Role.PRODUCER.allows(Permission.WORK)
    assert Role.WORKER.allows(Permission.WORK) and not Role.WORKER.allows(Permission.ADMIN)
    assert all(Role.ADMIN.allows(p) for p in Permission)
    with pytest.raises(InvalidArgument):
        Role.parse("root")


async def test_create_stores_only_the_hash_and_authenticate_accepts_the_token():
    keys = MemoryKeys()
    made = await CreateKey(keys, Clock())("billing", "producer")
    stored = keys.keys[made.key.id]
    assert stored.token_hash == hash_token(made.token) and made.token.encode() not in repr(stored).encode()
    who = await Authenticate(keys)(made.token)
    assert (who.key_id, who.name, who.role) == (made.key.id, "billing", Role.PRODUCER)
    assert [k.id for k in await ListKeys(keys)()] == [made.key.id]


async def test_every_refusal_looks_the_same():
    keys = MemoryKeys()
    made = await CreateKey(keys, Clock())("w", Role.WORKER)
    revoked = await CreateKey(keys, Clock())("old", Role.ADMIN)
    await RevokeKey(keys, Clock())(revoked.key.id)
    key_id = made.key.id
    attempts = [None, "", "garbage", f"brk_{key_id}_wrong-secret", "brk_0123456789abcdef_" + "x" * 43,
                made.token + "x", revoked.token]
    messages = set()
    for token in attempts:
        with pytest.raises(Unauthenticated) as refused:
            await Authenticate(keys)(token)
        messages.add(str(refused.value))
    assert messages == {REFUSED}


async def test_revoke_unknown_key_is_not_found_and_bad_ids_are_invalid():
    with pytest.raises(NotFound):
        await RevokeKey(MemoryKeys(), Clock())("0123456789abcdef")
    with pytest.raises(InvalidArgument):
        await RevokeKey(MemoryKeys(), Clock())("nope")
    with pytest.raises(InvalidArgument):
        await CreateKey(MemoryKeys(), Clock())("", "admin")


async def test_cache_saves_round_trips_and_expires():
    inner, now = MemoryKeys(), [0.0]
    made = await CreateKey(inner, Clock())("w", "worker")
    cache = CachedKeyStore(inner, ttl=5.0, clock=lambda: now[0])
    for _ in range(10):
        assert (await cache.find(made.key.id)).id == made.key.id
        assert await cache.find("0123456789abcdef") is None  # answered from the set of key ids
    assert (inner.finds, inner.id_reads) == (1, 1)
    await inner.revoke(made.key.id, NOW)  # revoked behind the cache's back (another broker)
    assert (await cache.find(made.key.id)).active
    now[0] += 5.0
    assert not (await cache.find(made.key.id)).active


async def test_cache_is_bounded():
    inner = MemoryKeys()
    made = [await CreateKey(inner, Clock())(f"k{i}", "worker") for i in range(10)]
    cache = CachedKeyStore(inner, ttl=60, size=3)
    for m in made:
        await cache.find(m.key.id)
    assert len(cache._entries) == 3


async def test_made_up_key_ids_cost_no_lookup_and_no_memory():
    inner, now = MemoryKeys(), [0.0]
    good = await CreateKey(inner, Clock())("workers", "worker")
    cache = CachedKeyStore(inner, ttl=5.0, clock=lambda: now[0])
    authenticate = Authenticate(cache)
    for second in range(3):
        for i in range(1000):  # a flood of tokens naming key ids nobody has
            with pytest.raises(Unauthenticated, match="missing or invalid"):
                await authenticate(f"brk_{second:04x}{i:012x}_{'s' * 43}")
        assert (await authenticate(good.token)).key_id == good.key.id
        now[0] += 5.0
    # Per ttl at most one read of the key ids, and one lookup of the real key.
    assert (inner.id_reads, inner.finds) == (3, 3)
    assert len(cache._entries) == 1 and cache._ids == {good.key.id}


async def test_concurrent_misses_share_one_read_of_the_key_ids():
    import asyncio

    inner = MemoryKeys()
    cache = CachedKeyStore(inner, ttl=5.0)
    assert await asyncio.gather(*(cache.find(f"{i:016x}") for i in range(50))) == [None] * 50
    assert (inner.id_reads, inner.finds) == (1, 0)


async def test_a_key_created_after_a_miss_works_within_the_ttl():
    inner, now = MemoryKeys(), [0.0]
    cache = CachedKeyStore(inner, ttl=5.0, clock=lambda: now[0])
    assert await cache.find("0" * 16) is None  # reads the (empty) set of key ids
    late = await CreateKey(inner, Clock())("late", "worker")  # behind the cache's back (the CLI)
    assert await cache.find(late.key.id) is None
    now[0] += 5.0
    assert (await cache.find(late.key.id)).id == late.key.id
    direct = await CreateKey(cache, Clock())("through-the-cache", "worker")
    assert (await cache.find(direct.key.id)).id == direct.key.id  # at once
