"""The Procrastinate app of the bench: one no-op task on queue `bench`."""

from __future__ import annotations

import os
import time

import procrastinate


def make_app(dsn: str, record_fd: int | None = None) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=dsn))

    @app.task(name="noop", queue="bench", pass_context=True)
    async def noop(context, data: str = "") -> None:
        if record_fd is not None:
            t = time.monotonic()
            os.write(record_fd, f"{context.job.id} {t:.6f} {t:.6f}\n".encode())
    return app
