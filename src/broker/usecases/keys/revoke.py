"""RevokeKey: an API key revoked for good."""

from __future__ import annotations

from broker.entities.auth import ApiKey, check_key_id
from broker.entities.errors import NotFound
from broker.usecases.ports import Clock, KeyStore


class RevokeKey:
    """Revokes a key for good. Brokers stop accepting it within their key cache's lifetime."""

    def __init__(self, keys: KeyStore, clock: Clock) -> None:
        self._keys, self._clock = keys, clock

    async def __call__(self, key_id: str) -> ApiKey:
        key = await self._keys.revoke(check_key_id(key_id), self._clock.now())
        if key is None:
            raise NotFound(f"no API key has the id {key_id}", key_id=key_id)
        return key
