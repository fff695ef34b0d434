"""The port the workers' view needs: where each replica's observations meet."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from broker.entities.latency import LatencyCount
from broker.entities.workers import HeldLease, SeenWorker


@dataclass(frozen=True, slots=True)
class SeenRow:
    """What one replica saw of one worker on one queue."""

    worker_id: str
    queue: str
    last_seen: datetime
    waiting: bool


class ObservationStore(Protocol):
    """The workers every replica saw and the latency counts every replica made, shared."""

    async def flush(self, replica: str, seen: Sequence[SeenRow], counts: Sequence[LatencyCount]) -> None:
        """Upsert this replica's rows of `seen` and add `counts` to the shared counts, in one write."""

    async def seen_workers(self, since: datetime, waiting_since: datetime) -> list[SeenWorker]:
        """Workers seen at or after `since` on any replica, their queues merged; waiting when a
        replica flushed an open poll of theirs at or after `waiting_since`."""

    async def held_leases(self, per_worker: int) -> list[HeldLease]:
        """The RUNNING jobs' leases, at most `per_worker` of each worker (soonest to expire first)."""

    async def latency(self, queues: Sequence[str], since: datetime) -> list[LatencyCount]:
        """The counts of the minutes from `since` on, of `queues` (empty: all)."""

    async def prune(self, seen_before: datetime, counts_before: datetime) -> int:
        """Delete the workers not seen since `seen_before` and counts of minutes before
        `counts_before`; returns how many rows went."""
