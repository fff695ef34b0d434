"""The HTTP side: /healthz, /metrics, the dashboard at / and its JSON API under /api/."""

from __future__ import annotations

import importlib.resources
import ssl
from collections.abc import Awaitable, Callable

from aiohttp import web

from broker.interface.http import api, uploads as upload_routes, webhooks as webhook_routes
from broker.interface.http.auth import Authenticator, bearer_auth
from broker.interface.http.errors import json_errors

# Returns the exposition body and its content type (the metrics adapter renders it).
RenderMetrics = Callable[[], Awaitable[tuple[bytes, str]]]


def build_app(health, render_metrics: RenderMetrics | None = None,
              dashboard: api.DashboardUseCases | None = None,
              authenticate: Authenticator | None = None, webhooks=None, uploads=None) -> web.Application:
    """`authenticate` (with BROKER_AUTH on): the JSON API needs an admin API key, uploads a
    producer's. `webhooks` (a ReceiveWebhook): POST /webhooks/{source}, open, authenticated by
    the signature. `uploads` (a StreamUpload and the size limit): POST /v1/uploads."""
    middlewares = [json_errors] + ([bearer_auth(authenticate)] if authenticate else [])
    app = web.Application(middlewares=middlewares)

    async def healthz(_request: web.Request) -> web.Response:
        if health.serving:
            return web.json_response({"status": "serving"})
        return web.json_response({"status": "not_serving"}, status=503)

    app.router.add_get("/healthz", healthz)
    if render_metrics is not None:
        app.router.add_get("/metrics", _metrics(render_metrics))
    if webhooks is not None:
        webhook_routes.add_routes(app, webhooks)
    upload_routes.add_routes(app, *(uploads or (None,)))
    if dashboard is not None:
        api.add_routes(app, dashboard)
        _add_dashboard(app)
    return app


def tls_context(cert: str, key: str, client_ca: str | None = None) -> ssl.SSLContext:
    """HTTPS with the gRPC port's certificate and key (PEM files); with `client_ca`, clients
    must present a certificate it signed, as on the gRPC port (mutual TLS)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _metrics(render: RenderMetrics):
    async def metrics(_request: web.Request) -> web.Response:
        body, content_type = await render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response
    return metrics


def _add_dashboard(app: web.Application) -> None:
    """The page and its assets, all from the package: no CDN, no build step."""
    static = importlib.resources.files("broker.interface.http") / "static"

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=(static / "index.html").read_text(), content_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    app.router.add_get("/", index)
    app.router.add_static("/static/", str(static), append_version=False)
