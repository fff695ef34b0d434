"""Authenticate: a bearer token becomes a Principal, or the call is refused."""

from __future__ import annotations

from broker.entities.auth import Principal, key_id_of
from broker.entities.errors import Unauthenticated
from broker.usecases.ports import KeyStore

# One message for every failure, so a caller cannot tell a missing key from a wrong or revoked one.
REFUSED = "missing or invalid credentials: send the metadata `authorization: Bearer <API key>`"


class Authenticate:
    """Checks a token against the stored hash of the key it names. Missing, malformed, unknown,
    wrong and revoked tokens all raise the same Unauthenticated."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def __call__(self, token: str | None) -> Principal:
        key_id = key_id_of(token) if token else None
        key = await self._keys.find(key_id) if key_id else None
        if key is None or not key.matches(token or "") or not key.active:
            raise Unauthenticated(REFUSED)
        return key.principal()
