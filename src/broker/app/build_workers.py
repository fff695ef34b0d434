"""The build step's workers part: the registry Lease tells, the latency counts the events feed,
their flush and prune, and the dashboard's readers of both (issue #16)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from broker.infra.settings import Settings
from broker.interface.http.workers_api import WorkerUseCases
from broker.usecases.ports import Clock, EventSink, JobStore
from broker.usecases.workers.flush import FlushObservations, PruneObservations
from broker.usecases.workers.latency import LatencyRecorder, ReadLatency
from broker.usecases.workers.listing import ListWorkers
from broker.usecases.workers.ports import ObservationStore
from broker.usecases.workers.registry import WorkerRegistry


@dataclass(frozen=True)
class WorkerParts:
    """Without an observation store: no registry, counts or flush; the dashboard lists the lease holders."""

    use: WorkerUseCases
    registry: WorkerRegistry | None = None
    sinks: tuple[EventSink, ...] = ()
    flush: FlushObservations | None = None
    prunes: tuple[Callable[[], Awaitable[int]], ...] = ()


def worker_parts(settings: Settings, jobs: JobStore, store: ObservationStore | None, clock: Clock,
                 replica: str) -> WorkerParts:
    """`replica` names this process in the store (a random suffix: two brokers of one process differ)."""
    s = settings.workers
    health = s.health
    use = WorkerUseCases(ListWorkers(jobs, store, clock, health, s.waiting_seconds),
                         ReadLatency(store, clock, settings.limits))
    if store is None:
        return WorkerParts(use)
    registry, latency = WorkerRegistry(health.seen_seconds), LatencyRecorder()
    flush = FlushObservations(store, clock, registry, latency, f"{replica}/{uuid.uuid4().hex[:8]}")
    return WorkerParts(use, registry, (latency,), flush, (PruneObservations(store, clock, health.seen_seconds),))
