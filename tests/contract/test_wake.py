"""Every change that makes a job ready now sends NOTIFY broker_jobs with its queue, which wakes
long polls on every replica (infra/pg/listen.py); a change that leaves the job waiting (a retry
due later, the dead letter queue) sends none. PostgreSQL alone: the fake has no notifications.

A notification arrives at commit. To know that none came, each test sends a marker of its own
after the change: notifications reach a listener in commit order, so once the marker is in,
everything the change sent is in too. Nothing waits for time to pass."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from broker.entities.lease import Failure
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra.pg.listen import CHANNEL
from tests.contract.helpers import add, decide, postgres_only, ref, running, seconds

pytestmark = postgres_only
AT_ONCE = RetryPolicy(initial_delay=0.0, max_delay=0.0, jitter=Jitter.NONE)


class Heard:
    """What the channel carried, read up to a marker."""

    def __init__(self, conn: asyncpg.Connection, db) -> None:
        self._conn, self._db, self.payloads = conn, db, []

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        self.payloads.append(payload)

    async def since_last(self, queue: str) -> list[str]:
        """The notifications for this test's queues since the last call, in order."""
        marker = f"{queue}-marker-{len(self.payloads)}"
        await self._db.execute("SELECT pg_notify($1, $2)", CHANNEL, marker)
        async with asyncio.timeout(10):
            while marker not in self.payloads:
                await asyncio.sleep(0.005)
        heard = self.payloads[:self.payloads.index(marker)]
        self.payloads.clear()
        return [p for p in heard if p.startswith(queue) and "-marker-" not in p]


@pytest.fixture
async def heard(database_url, db):
    conn = await asyncpg.connect(database_url)
    listener = Heard(conn, db)
    await conn.add_listener(CHANNEL, listener._on_notify)
    try:
        yield listener
    finally:
        await conn.close()


async def test_a_nack_notifies_only_when_its_retry_is_due_now(store, queue, t0, heard):
    due = await running(store, f"{queue}-due", t0)
    later = await running(store, f"{queue}-later", t0)  # backoff 2 s
    dead = await running(store, f"{queue}-dead", t0)
    await heard.since_last(queue)
    now = seconds(t0, 1)

    await store.fail([(ref(due), Failure("busy", retry_after=0.0)), (ref(later), Failure("busy")),
                      (ref(dead), Failure("fatal", permanent=True))], now, decide(now))

    assert await heard.since_last(queue) == [f"{queue}-due"]


async def test_a_reaped_lease_notifies_only_when_its_retry_is_due_now(store, queue, t0, heard):
    await running(store, f"{queue}-due", t0, retry=AT_ONCE)
    await running(store, f"{queue}-later", t0)  # backoff 2 s
    await running(store, f"{queue}-dead", t0, max_attempts=1)
    await heard.since_last(queue)
    now = seconds(t0, 31)  # every lease (30 s) lapsed

    await store.rescue_expired(now, 1_000_000, decide(now))

    assert await heard.since_last(queue) == [f"{queue}-due"]


async def test_a_redrive_notifies_the_queues_of_the_jobs_it_made_ready(store, queue, t0, heard):
    one = await running(store, f"{queue}-ids", t0)
    other = await running(store, f"{queue}-queue", t0)
    for job in (one, other):
        (call,), _ = await store.fail([(ref(job), Failure("fatal", permanent=True))], t0, decide(t0))
        assert call.changed
    await heard.since_last(queue)
    now = seconds(t0, 5)

    await store.redrive([one.id], None, True, now)
    assert await heard.since_last(queue) == [f"{queue}-ids"]
    await store.redrive([], f"{queue}-queue", True, now)
    assert await heard.since_last(queue) == [f"{queue}-queue"]
    await store.redrive([], f"{queue}-queue", True, now)  # nothing left dead there
    assert await heard.since_last(queue) == []


async def test_a_change_that_readies_nothing_notifies_nothing(store, queue, t0, heard):
    job = await running(store, queue, t0)
    await heard.since_last(queue)

    await store.extend([ref(job)], None, seconds(t0, 1))
    await store.complete([ref(job)], seconds(t0, 2))
    await store.redrive([job.id], None, True, seconds(t0, 3))  # not dead: no change

    assert await heard.since_last(queue) == []


async def test_a_retry_now_notifies_the_queue_of_the_job_it_made_ready(store, queue, t0, heard):
    (waiting,) = await add(store, queue, t0, run_at=seconds(t0, 600))
    (ready,) = await add(store, queue, t0)
    await heard.since_last(queue)

    await store.retry_now(ready, seconds(t0, 5))  # due already: no change
    assert await heard.since_last(queue) == []
    await store.retry_now(waiting, seconds(t0, 5))
    assert await heard.since_last(queue) == [queue]
