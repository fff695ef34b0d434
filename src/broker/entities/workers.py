"""The workers the dashboard lists: those seen asking for work (by any replica, idle ones too)
and those holding leases, merged into one row each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from broker.entities.stats import WorkerLeases

MAX_HELD = 20  # leases listed per worker (its count is the whole)


@dataclass(frozen=True, slots=True)
class SeenWorker:
    """A worker some replica saw calling Lease, over all replicas and queues."""

    worker_id: str
    queues: tuple[str, ...]
    last_seen: datetime
    waiting: bool  # a long poll of its was open at a replica's latest flush


@dataclass(frozen=True, slots=True)
class HeldLease:
    worker_id: str
    job_id: str
    queue: str
    kind: str
    lease_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class WorkerView:
    worker_id: str
    queues: tuple[str, ...]  # the queues it leases from (asked for, or holds leases of)
    leases: int
    held: tuple[HeldLease, ...]  # at most MAX_HELD
    last_seen: datetime | None
    waiting: bool

    @property
    def idle(self) -> bool:
        return self.leases == 0


@dataclass(frozen=True, slots=True)
class QueueWorkers:
    workers: int = 0  # workers listed for the queue
    leases: int = 0   # leases they hold in it


def merge(seen: Sequence[SeenWorker], leases: Sequence[WorkerLeases],
          held: Sequence[HeldLease]) -> list[WorkerView]:
    """One view per worker, by id. A worker holding leases that no replica saw ask (its calls went
    to a broker that does not record them) is listed too, last seen at its newest heartbeat."""
    ids = sorted({w.worker_id for w in seen} | {g.worker_id for g in leases if g.worker_id})
    by_id = {w.worker_id: w for w in seen}
    groups: dict[str, list[WorkerLeases]] = {}
    for g in leases:
        groups.setdefault(g.worker_id, []).append(g)
    holding: dict[str, list[HeldLease]] = {}
    for h in held:
        holding.setdefault(h.worker_id, []).append(h)
    return [_view(i, by_id.get(i), groups.get(i, []), holding.get(i, [])) for i in ids]


def _view(worker_id: str, seen: SeenWorker | None, groups: list[WorkerLeases], held: list[HeldLease]) -> WorkerView:
    queues = set(seen.queues if seen else ()) | {g.queue for g in groups}
    times = [t for t in [seen and seen.last_seen, *(g.last_heartbeat for g in groups)] if t is not None]
    return WorkerView(worker_id, tuple(sorted(queues)), sum(g.leases for g in groups), tuple(held[:MAX_HELD]),
                      max(times) if times else None, bool(seen and seen.waiting))


def per_queue(workers: Sequence[WorkerView], leases: Sequence[WorkerLeases]) -> dict[str, QueueWorkers]:
    """Workers listed for each queue, and the leases held in it."""
    counts: dict[str, list[int]] = {}
    for w in workers:
        for q in w.queues:
            counts.setdefault(q, [0, 0])[0] += 1
    for g in leases:
        counts.setdefault(g.queue, [0, 0])[1] += g.leases
    return {q: QueueWorkers(n, held) for q, (n, held) in sorted(counts.items())}
