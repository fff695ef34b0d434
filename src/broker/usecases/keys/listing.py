"""ListKeys: every API key, without tokens."""

from __future__ import annotations

from broker.entities.auth import ApiKey
from broker.usecases.ports import KeyStore


class ListKeys:
    """Every key (ids, names, roles, dates), oldest first; never a token or a hash."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def __call__(self) -> list[ApiKey]:
        return await self._keys.list_keys()
