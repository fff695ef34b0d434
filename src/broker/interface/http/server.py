"""The HTTP side: /healthz now; metrics and the dashboard mount here too."""

from __future__ import annotations

from aiohttp import web


def build_app(health) -> web.Application:
    app = web.Application()

    async def healthz(_request: web.Request) -> web.Response:
        if health.serving:
            return web.json_response({"status": "serving"})
        return web.json_response({"status": "not_serving"}, status=503)

    app.router.add_get("/healthz", healthz)
    return app
