"""CreateKey: a new API key and its token."""

from __future__ import annotations

from dataclasses import dataclass

from broker.entities.auth import ApiKey, Role, check_key_name, hash_token, new_token
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
