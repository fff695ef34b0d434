"""The notifier: wakes long-polling leases in this process at once, and in other replicas through
PostgreSQL's LISTEN/NOTIFY. NOTIFY broker_jobs, <queue> goes out at commit of every change that
makes a job ready now: the insert trigger for new jobs, and the FAIL and REDRIVE statements
(sql.py) for retries due at once, reaped leases retried at once and redrives. A job whose run_at
lies ahead (delayed, or a retry after its backoff) sends nothing when it comes due: waiting
calls find it at their next re-check (BROKER_LONG_POLL_RECHECK)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import asyncpg

log = logging.getLogger("broker.listen")
CHANNEL = "broker_jobs"


class LocalNotifier:
    """In-process wake-ups: one asyncio.Event per waiting call.

    A notification wakes one waiting call per queue, the one waiting longest: every woken call
    runs a claim, and waking all of them cost an empty claim per idle worker per enqueue (with
    20 idle workers, +1.4 ms of broker and +1.5 ms of PostgreSQL CPU per job). The woken call
    passes the wake-up on when there may be more (LeaseJobs: its claim came back full) or when
    it ends before claiming (cancelled here)."""

    def __init__(self) -> None:
        # Per queue, the waiting calls' events in the order they started waiting.
        self._waiters: dict[str, dict[asyncio.Event, None]] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def notify(self, queues: Sequence[str]) -> None:
        for queue in queues:
            for event in self._waiters.get(queue, ()):
                if not event.is_set():
                    event.set()
                    break

    async def wait(self, queues: Sequence[str], timeout: float | None) -> bool:
        """True when a notification (or close) woke this call, False when the timeout passed."""
        if self._closed:
            return True
        event = asyncio.Event()
        for queue in queues:
            self._waiters.setdefault(queue, {})[event] = None
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        except TimeoutError:
            pass
        except asyncio.CancelledError:
            if event.is_set():  # woken, but the call is gone before it could claim: wake another
                self._discard(queues, event)
                self.notify(queues)
            raise
        finally:
            self._discard(queues, event)
        return event.is_set()

    def _discard(self, queues: Sequence[str], event: asyncio.Event) -> None:
        for queue in queues:
            waiting = self._waiters.get(queue)
            if waiting is not None:
                waiting.pop(event, None)
                if not waiting:
                    del self._waiters[queue]

    def close(self) -> None:
        """Wake every waiter for good: used at shutdown so long polls return at once."""
        self._closed = True
        for waiting in list(self._waiters.values()):
            for event in waiting:
                event.set()


class PgListener:
    """Keeps one connection LISTENing (its own, never pooled) and reconnects when it drops."""

    def __init__(self, dsn: str, notifier: LocalNotifier, retry_seconds: float = 1.0) -> None:
        self._dsn, self._notifier, self._retry = dsn, notifier, retry_seconds
        self._conn: asyncpg.Connection | None = None

    def _on_notify(self, _conn, _pid, _channel, payload: str) -> None:
        self._notifier.notify([payload])

    async def run(self) -> None:
        """Listen until cancelled."""
        while True:
            try:
                self._conn = await asyncpg.connect(self._dsn)
                await self._conn.add_listener(CHANNEL, self._on_notify)
                while not self._conn.is_closed():
                    await asyncio.sleep(self._retry)
                    await self._conn.execute("SELECT 1")  # notices a dead connection
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect after a pause
                log.warning("listener connection lost (%s); reconnecting", exc)
            finally:
                await self._close()
            await asyncio.sleep(self._retry)

    async def _close(self) -> None:
        if self._conn is not None and not self._conn.is_closed():
            try:
                async with asyncio.timeout(2):
                    await self._conn.close()
            except Exception:  # noqa: BLE001
                self._conn.terminate()
        self._conn = None
