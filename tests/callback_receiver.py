"""A callback receiver over real HTTP on loopback: it verifies each request with the Standard
Webhooks reference library (`standardwebhooks`), records it, and answers as its script says
(fail the first N requests of a path, hang, or accept)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from dataclasses import dataclass, field

from aiohttp import web
from standardwebhooks import Webhook

SECRET = "whsec_" + base64.b64encode(b"callback-secret-one-0123456789ab").decode()
NEXT_SECRET = "whsec_" + base64.b64encode(b"callback-secret-two-0123456789ab").decode()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered
    verified: dict[str, bool] = field(default_factory=dict)  # secret -> verified with it

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """`fail[path] = n`: answer 500 to the first n requests of the path; `hang` paths never
    answer (the broker's timeout, or its death, ends them)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.fail: dict[str, int] = {}
        self.hang: set[str] = set()
        self.arrived = asyncio.Condition()
        self.port = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}/{path}"

    def of(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    async def handle(self, request: web.Request) -> web.Response:
        path, body = request.match_info["path"], await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = {}
        for secret in (SECRET, NEXT_SECRET):
            try:
                Webhook(secret).verify(body, headers)
                verified[secret] = True
            except Exception:  # noqa: BLE001 - the library's verification error, or a bad header
                verified[secret] = False
        if path in self.hang:
            await self._record(Received(path, headers, body, 0, verified))
            await asyncio.sleep(3600)
        failing = self.fail.get(path, 0)
        status = 500 if len(self.of(path)) < failing else 200
        await self._record(Received(path, headers, body, status, verified))
        return web.Response(status=status, text="no thanks" if status >= 400 else "ok")

    async def _record(self, item: Received) -> None:
        async with self.arrived:
            self.received.append(item)
            self.arrived.notify_all()

    async def wait_for(self, path: str, count: int, timeout: float = 30.0) -> list[Received]:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.of(path)) >= count), timeout)
        return self.of(path)


@contextlib.asynccontextmanager
async def receiving():
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/{path}", receiver.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.port = site._server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        await runner.cleanup()
