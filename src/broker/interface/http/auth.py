"""With authentication on, the dashboard's JSON API (reads and writes) needs an admin API key,
sent as `Authorization: Bearer <token>`, like the AdminService over gRPC. The page itself,
/healthz and /metrics stay open: the page holds no data, probes and scrapers carry no keys."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from broker.entities.auth import Permission, Principal
from broker.entities.errors import PermissionDenied

Authenticator = Callable[[str | None], Awaitable[Principal]]
PROTECTED = "/api/"
UPLOADS = "/v1/uploads"  # a producer's (the enqueue permission), as CreateUpload over gRPC


async def _principal(request: web.Request, authenticate: Authenticator) -> Principal:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    given = token.strip() if scheme.lower() == "bearer" else ""
    return await authenticate(given or None)


def bearer_auth(authenticate: Authenticator):
    """An aiohttp middleware; runs inside json_errors, which turns the refusals into 401 and 403."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        if request.path.startswith(PROTECTED):
            who = await _principal(request, authenticate)
            if not who.may(Permission.ADMIN):
                raise PermissionDenied(f"the {who.role.value} role may not use the dashboard API "
                                       "(needs the admin permission)")
        elif request.path == UPLOADS:
            who = await _principal(request, authenticate)
            if not who.may(Permission.ENQUEUE):
                raise PermissionDenied(f"the {who.role.value} role may not upload (needs the enqueue permission)")
        return await handler(request)

    return middleware
