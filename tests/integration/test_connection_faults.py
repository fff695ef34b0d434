"""A connection that breaks between two calls, against a real PostgreSQL: the call that finds it
broken answers Unavailable (never a defect's INTERNAL), and the broken connection is not handed
out again."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime

import asyncpg
import pytest

from broker.entities.errors import Unavailable
from broker.entities.retry import RetryPolicy
from broker.infra.pg.store import PgJobStore
from broker.usecases.ports import NewJob
from tests.support import TcpProxy


class HoldingProxy(TcpProxy):
    """Passes bytes both ways, but never closes the client's side when the server closes its
    own: the server's last words (its shutdown notice) reach the client, the end of the stream
    does not. So the driver finds the notice on an idle connection, as it does when a fast
    shutdown's notice and the next call cross."""

    def __init__(self, database_url: str) -> None:
        super().__init__(database_url)
        self.server_closed = asyncio.Event()

    async def _handle(self, reader, writer) -> None:
        if self._unix:
            up_reader, up_writer = await asyncio.open_unix_connection(self._unix)
        else:
            up_reader, up_writer = await asyncio.open_connection(*self._target)

        async def down() -> None:
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            self.server_closed.set()

        async def up() -> None:
            with contextlib.suppress(OSError):
                while data := await reader.read(65536):
                    up_writer.write(data)
                    await up_writer.drain()

        pipes = [asyncio.ensure_future(down()), asyncio.ensure_future(up())]
        self._pipes.update(pipes)
        await asyncio.gather(*pipes, return_exceptions=True)
        for w in (writer, up_writer):
            w.close()


def a_job(queue: str, now: datetime) -> NewJob:
    return NewJob(queue=queue, kind="k", payload=b"{}", headers={}, idempotency_key=None, priority=0,
                  run_at=now, max_attempts=3, retry=RetryPolicy(), lease_duration=30.0)


async def test_a_shutdown_notice_between_calls_is_unavailable_and_the_connection_is_dropped(
        own_database, queue, clock):
    proxy = HoldingProxy(own_database)
    await proxy.start()
    pool = await asyncpg.create_pool(proxy.url, min_size=1, max_size=1)
    admin = await asyncpg.connect(own_database)
    try:
        store = PgJobStore(pool)
        now = clock.now()
        job = a_job(queue, now)
        await store.enqueue([job], now)
        pid = await pool.fetchval("SELECT pg_backend_pid()")
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        async with asyncio.timeout(10):
            await proxy.server_closed.wait()
            await asyncio.sleep(0.05)  # let the driver read the notice the proxy passed on

            with pytest.raises(Unavailable) as caught:
                await store.enqueue([job], now)
            assert "database unavailable" in str(caught.value)
            # The pool's one connection was dropped, not handed out again: the next call works.
            inserted, _ = await store.enqueue([job], now)
        assert inserted[0].created
        assert await admin.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 2
    finally:
        await admin.close()
        pool.terminate()
        await proxy.cut()
