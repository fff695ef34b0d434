"""Runs the background services (reaper, pruner, health check) on their intervals, and stops them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from broker.entities.errors import Unavailable

log = logging.getLogger("broker.maintenance")


class Loop:
    """Calls `run_once` every `interval` seconds; sooner again when it reports a full batch."""

    def __init__(self, name: str, run_once: Callable[[], Awaitable[object]], interval: float,
                 again_when: Callable[[object], bool] = lambda _: False) -> None:
        self.name, self.run_once, self.interval, self.again_when = name, run_once, interval, again_when

    async def run(self) -> None:
        while True:
            try:
                result = await self.run_once()
                if self.again_when(result):
                    continue
            except asyncio.CancelledError:
                raise
            except Unavailable as exc:
                log.warning("%s: %s", self.name, exc)
            except Exception:  # noqa: BLE001 - a background loop must outlive one bad pass
                log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval)


class Runner:
    """Owns the background tasks."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task] = []

    def start(self, name: str, coroutine: Awaitable[None]) -> None:
        self._tasks.append(asyncio.create_task(coroutine, name=name))

    async def stop(self) -> None:
        """Cancel every task, again if one swallowed the cancellation (Python 3.11's wait_for
        can, when its inner call finishes at the same moment), until all have ended."""
        pending = set(self._tasks)
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        self._tasks.clear()
