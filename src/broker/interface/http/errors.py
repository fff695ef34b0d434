"""The HTTP side's one table from domain errors to status codes, applied by a middleware, and
the one rule for writes: JSON bodies only (a cross-site form post cannot send one)."""

from __future__ import annotations

import logging
import uuid

from aiohttp import web

from broker.entities import errors

log = logging.getLogger("broker.http")

# Most specific first.
STATUS = (
    (errors.InvalidArgument, 400),
    (errors.NotFound, 404),
    (errors.FailedPrecondition, 409),
    (errors.AlreadyExists, 409),
    (errors.ResourceExhausted, 429),
    (errors.Unavailable, 503),
    (errors.Unauthenticated, 401),
    (errors.PermissionDenied, 403),
)


FORM_PATHS = ("/webhooks/", "/v1/uploads")


def status_for(exc: errors.BrokerError) -> int:
    for kind, status in STATUS:
        if isinstance(exc, kind):
            return status
    return 500


@web.middleware
async def json_errors(request: web.Request, handler):
    """Domain errors become {"error": message} with their status; writes must be JSON (but for
    inbound webhooks: a provider sends what it sends, and its signature stands in for the rule;
    and uploads: a form, which with BROKER_AUTH on needs a bearer token a browser never adds)."""
    if (request.method == "POST" and request.content_type != "application/json"
            and not request.path.startswith(FORM_PATHS)):
        return web.json_response({"error": "send a JSON body (Content-Type: application/json)"},
                                 status=415)
    try:
        return await handler(request)
    except errors.BrokerError as exc:
        return web.json_response({"error": str(exc)}, status=status_for(exc))
    except web.HTTPException:
        raise
    except Exception:  # noqa: BLE001 - the edge: tracebacks go to the log, not to the page
        rid = request_id(request)
        log.exception("unexpected error", extra={"request_id": rid, "path": request.path})
        return web.json_response({"error": f"internal error (request id {rid})"}, status=500)


def request_id(request: web.Request) -> str:
    """The caller's X-Request-Id, or a fresh one; the job log lines of a write carry it."""
    return request.headers.get("X-Request-Id", "")[:128] or "http-" + uuid.uuid4().hex
