"""This replica's record of the workers that call Lease, flushed to the shared store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.usecases.workers.ports import SeenRow


@dataclass(slots=True)
class _Seen:
    last_seen: datetime
    polls: int = 0  # long polls open now
    dirty: bool = True  # changed since the last flush


class WorkerRegistry:
    """Told by Lease of each call (the worker, its queues, whether it waits) and of the end of
    each long poll; costs a dict update per queue and call, never a write. `take` hands the
    flush what changed: every row seen since the last one, and every row with a poll open (seen
    now). Rows neither seen within `forget_after` seconds nor polling are dropped."""

    def __init__(self, forget_after: float) -> None:
        self._rows: dict[tuple[str, str], _Seen] = {}
        self._forget = timedelta(seconds=forget_after)

    def called(self, worker_id: str, queues: Sequence[str], now: datetime, waiting: bool) -> None:
        for queue in queues:
            row = self._rows.get((worker_id, queue))
            if row is None:
                row = self._rows[(worker_id, queue)] = _Seen(now)
            row.last_seen, row.dirty = max(row.last_seen, now), True
            row.polls += waiting

    def poll_ended(self, worker_id: str, queues: Sequence[str]) -> None:
        for queue in queues:
            row = self._rows.get((worker_id, queue))
            if row is not None and row.polls:
                row.polls -= 1
                row.dirty = True

    def take(self, now: datetime) -> list[SeenRow]:
        found = []
        for key, row in list(self._rows.items()):
            if row.polls:
                row.last_seen = max(row.last_seen, now)
            if row.dirty or row.polls:
                found.append(SeenRow(key[0], key[1], row.last_seen, row.polls > 0))
                row.dirty = False
            elif row.last_seen < now - self._forget:
                del self._rows[key]
        return found

    def put_back(self, rows: Sequence[SeenRow]) -> None:
        """A flush that failed: its rows go with the next one."""
        for r in rows:
            row = self._rows.get((r.worker_id, r.queue))
            if row is not None:
                row.dirty = True
