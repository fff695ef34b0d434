"""Authenticate: a bearer token becomes a Principal, or the call is refused."""

from __future__ import annotations

from datetime import datetime, timezone

from broker.entities.auth import ApiKey, Principal, Role, key_id_of
from broker.entities.errors import Unauthenticated
from broker.usecases.ports import KeyStore

# One message for every failure, so a caller cannot tell a missing key from a wrong or revoked one.
REFUSED = "missing or invalid credentials: send the metadata `authorization: Bearer <API key>`"
# Compared against when the token names no key, so that an unknown key costs the same hash and
# comparison as a wrong secret.
_NOBODY = ApiKey("0" * 16, "nobody", Role.PRODUCER, b"\0" * 32, datetime(1970, 1, 1, tzinfo=timezone.utc),
                 revoked_at=datetime(1970, 1, 1, tzinfo=timezone.utc))


class Authenticate:
    """Checks a token against the stored hash of the key it names. Missing, malformed, unknown,
    wrong and revoked tokens all raise the same Unauthenticated."""

    def __init__(self, keys: KeyStore) -> None:
        self._keys = keys

    async def __call__(self, token: str | None) -> Principal:
        key_id = key_id_of(token) if token else None
        key = (await self._keys.find(key_id) if key_id else None) or _NOBODY
        if not key.matches(token or "") or not key.active:
            raise Unauthenticated(REFUSED)
        return key.principal()
