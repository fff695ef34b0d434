"""Small helpers shared by the SDK tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable

from broker_client import Worker


async def eventually(check: Callable[[], bool], timeout: float = 10.0, every: float = 0.02) -> None:
    """Wait until ``check()`` is true (a liveness bound, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(every)


class Gauge:
    """Counts handlers running at once and remembers the peak."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    def __enter__(self) -> Gauge:
        self.now += 1
        self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        self.now -= 1


@contextlib.asynccontextmanager
async def running(worker: Worker, address: str, **kwargs) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``worker`` in a task; stop it (gracefully) when the block ends."""
    task = asyncio.create_task(worker.run(address, handle_signals=False, **kwargs))
    try:
        yield task
    finally:
        worker.stop()
        await asyncio.wait_for(task, 15)
