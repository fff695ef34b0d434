"""What the JSON API's endpoints read from a request (a body, a query parameter), each checked:
anything else is InvalidArgument naming the field, never a 500."""

from __future__ import annotations

from aiohttp import web

from broker.entities.errors import InvalidArgument

_TARGETS = ("job_ids", "queue")


async def targets(request: web.Request, options: tuple[str, ...] = ()) -> tuple[list[str], str | None, dict]:
    """{"job_ids": [...]} or {"queue": "..."}, plus the endpoint's `options`; the use case checks
    that exactly one target is given. Any other body is InvalidArgument, never a 500."""
    expected = 'expected {"job_ids": [...]} or {"queue": "..."}'
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidArgument("body", expected)
    unknown = sorted(set(body) - {*_TARGETS, *options})
    if unknown:
        raise InvalidArgument("body", f"unknown field {unknown[0][:40]!r}; {expected}"
                                      + (f", optionally {', '.join(options)}" if options else ""))
    ids, queue = body.get("job_ids") or [], body.get("queue") or None
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise InvalidArgument("job_ids", "must be a list of job ids")
    if queue is not None and not isinstance(queue, str):
        raise InvalidArgument("queue", "must be a queue name")
    return ids, queue, body


async def fields(request: web.Request, known: tuple[str, ...], empty_ok: bool = True) -> dict:
    """A JSON object whose fields are among `known` (an empty body reads as {} when `empty_ok`)."""
    if empty_ok and not await request.read():
        return {}
    body = await json_body(request)
    if not isinstance(body, dict):
        raise InvalidArgument("body", f"expected a JSON object with {', '.join(known) or 'no fields'}")
    unknown = sorted(set(body) - set(known))
    if unknown:
        raise InvalidArgument("body", f"unknown field {unknown[0][:40]!r}; expected {', '.join(known) or 'none'}")
    return body


async def json_body(request: web.Request) -> object:
    try:
        return await request.json()
    except RecursionError:  # json.loads gives up on deep nesting this way, not with a ValueError
        raise InvalidArgument("body", "is nested too deeply to be what this endpoint takes") from None
    except ValueError:  # not JSON, or not UTF-8
        raise InvalidArgument("body", "is not valid JSON") from None


def int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise InvalidArgument(name, f"{raw[:40]!r} is not a whole number") from None
