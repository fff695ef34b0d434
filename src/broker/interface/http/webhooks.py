"""POST /webhooks/{source}: inbound webhooks. Not behind the dashboard's bearer token (a provider
cannot send one): the signature is the authentication. The body is read under the webhook body
cap as it arrives, never buffered beyond it; the interactor verifies it before anything parses it.

Answers: 201 a job was created, 200 the delivery id was seen before (no second job), 400 stale
or malformed, 401 bad signature, 404 unknown source, 413 over the body limit, 503 database away
(the provider retries). Refusals carry {"error": message}, never anything of the body."""

from __future__ import annotations

from aiohttp import web

from broker.entities.errors import BrokerError
from broker.entities.webhook import BodyTooLarge
from broker.interface.http.errors import request_id, status_for
from broker.usecases import context
from broker.usecases.receive_webhook import Delivery, ReceiveWebhook

PREFIX = "/webhooks/"
CHUNK = 64 * 1024


def add_routes(app: web.Application, receive: ReceiveWebhook) -> None:
    async def webhook(request: web.Request) -> web.Response:
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), value)  # the first of repeated headers
        delivery = Delivery(request.match_info["source"], headers)
        token = context.request_id.set(request_id(request))  # the job's and the webhook's log lines name it
        try:
            accepted = await receive(delivery, _reader(request))
        except BrokerError as exc:
            response = web.json_response({"error": str(exc)}, status=_status(exc))
            if isinstance(exc, BodyTooLarge):
                response.force_close()  # the rest of the body is not read
            return response
        finally:
            context.request_id.reset(token)
        return web.json_response({"job_id": accepted.job_id, "created": accepted.created},
                                 status=201 if accepted.created else 200)

    app.router.add_post(PREFIX + r"{source:[\s\S]*}", webhook)  # any name: an unknown one gets a JSON 404


def _status(exc: BrokerError) -> int:
    return 413 if isinstance(exc, BodyTooLarge) else status_for(exc)


def _reader(request: web.Request):
    async def read(limit: int) -> bytes:
        if request.content_length is not None and request.content_length > limit:
            raise BodyTooLarge(limit)
        body = bytearray()
        while chunk := await request.content.read(min(CHUNK, limit + 1 - len(body))):
            body += chunk
            if len(body) > limit:  # chunked, or a Content-Length that lied
                raise BodyTooLarge(limit)
        return bytes(body)
    return read
