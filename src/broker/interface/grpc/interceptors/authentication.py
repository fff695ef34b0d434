"""Stage 6, authentication: the bearer token in the `authorization` metadata becomes the call's
principal (broker.usecases.authenticate decides). Every failure is the same UNAUTHENTICATED, so
a caller learns nothing about which keys exist. Health and reflection are open."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from broker.entities.auth import Principal
from broker.interface.grpc.context import principal
from broker.interface.grpc.methods import is_open

Authenticator = Callable[[str | None], Awaitable[Principal]]


def bearer(value: str | None) -> str | None:
    """The token of an `authorization: Bearer <token>` value, or None."""
    scheme, _, token = (value or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class AuthenticationStage:
    def __init__(self, authenticate: Authenticator) -> None:
        self._authenticate = authenticate

    async def __call__(self, call, proceed):
        if not is_open(call.method):
            principal.set(await self._authenticate(bearer(call.header("authorization"))))
        return await proceed(call)
