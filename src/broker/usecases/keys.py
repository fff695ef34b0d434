"""The operators' key management: create, list and revoke API keys."""

from __future__ import annotations

from dataclasses import dataclass

from broker.entities.auth import ApiKey, Role, check_key_id, check_key_name, hash_token, new_token
from broker.entities.errors import NotFound
from broker.usecases.ports import Clock, KeyStore


@dataclass(frozen=True, slots=True)
class NewKey:
    """A created key and its token: the only time the token is seen."""

    key: ApiKey
    token: str


class CreateKey:
    """Makes a key with a role; stores only the token's hash."""

    def __init__(self, keys: KeyStore, clock: Clock) -> None:
        self._keys, self._clock = keys, clock

    async def __call__(self, name: str, role: str | Role) -> NewKey:
        role = role if isinstance(role, Role) else Role.parse(role)
        key_id, token = new_token()
        key = ApiKey(key_id, check_key_name(name), role, hash_token(token), self._clock.now())
        await self._keys.add(key)
        return NewKey(key, token)


class ListKeys:
    """Every key (ids, names, roles, dates), oldest first; never a token or a hash."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def __call__(self) -> list[ApiKey]:
        return await self._keys.list_keys()


class RevokeKey:
    """Revokes a key for good. Brokers stop accepting it within their key cache's lifetime."""

    def __init__(self, keys: KeyStore, clock: Clock) -> None:
        self._keys, self._clock = keys, clock

    async def __call__(self, key_id: str) -> ApiKey:
        key = await self._keys.revoke(check_key_id(key_id), self._clock.now())
        if key is None:
            raise NotFound(f"no API key has the id {key_id}", key_id=key_id)
        return key
