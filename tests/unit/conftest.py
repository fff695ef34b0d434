"""Interactors wired to the fakes: an in-memory store, a clock that moves only when told, and a
notifier and event sink that record what they are told."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from broker.entities.queue import Limits, QueueConfig, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy
from broker.usecases.ack import Ack
from broker.usecases.admin import GetJob, ListJobs, Stats, Workers
from broker.usecases.enqueue import Enqueue, JobSpec
from broker.usecases.heartbeat import Heartbeat
from broker.usecases.lease import LeaseJobs, LeaseRequest
from broker.usecases.nack import Nack
from broker.usecases.overview import ReadOverview
from broker.usecases.paging import PageTokens
from broker.usecases.operate import CancelJob, PurgeJobs, RedriveJobs
from broker.usecases.prune import PruneFinished
from broker.usecases.reap import ReapExpired
from tests.fakes import InMemoryJobStore, ManualClock, RecordingEventSink, RecordingNotifier

# Retries in the queue "steady" wait exactly 1 s, 2 s, 4 s ... (no jitter).
STEADY = QueueDefaults(max_attempts=3, retry=RetryPolicy(1.0, 60.0, 2.0, Jitter.NONE), lease_duration=30.0)
SEED = 1234


@dataclass
class World:
    limits: Limits = field(default_factory=Limits)
    queues: QueueConfig = field(default_factory=lambda: QueueConfig(overrides={"steady": STEADY}))
    clock: ManualClock = field(default_factory=ManualClock)
    store: InMemoryJobStore = field(default_factory=InMemoryJobStore)
    sink: RecordingEventSink = field(default_factory=RecordingEventSink)
    notifier: RecordingNotifier | None = None
    retention: float = 3600.0

    def __post_init__(self) -> None:
        if self.notifier is None:
            self.notifier = RecordingNotifier(self.clock)
        store, clock, notifier, sink, limits = self.store, self.clock, self.notifier, self.sink, self.limits
        self.enqueue = Enqueue(store, clock, notifier, sink, self.queues, limits)
        self.lease = LeaseJobs(store, clock, notifier, sink, limits)
        self.heartbeat = Heartbeat(store, clock, limits)
        self.ack = Ack(store, clock, sink, limits)
        self.nack = Nack(store, clock, notifier, sink, limits, random.Random(SEED))
        self.reap = ReapExpired(store, clock, notifier, sink, rng=random.Random(SEED))
        self.prune = PruneFinished(store, clock, self.retention)
        self.get_job = GetJob(store)
        self.list_jobs = ListJobs(store, limits, PageTokens(b"unit tests' page token secret"))
        self.overview = ReadOverview(store, clock, ttl=0)  # no caching: each read sees the store
        self.stats = Stats(self.overview)
        self.workers = Workers(self.overview)
        self.redrive = RedriveJobs(store, clock, notifier, sink, limits)
        self.cancel = CancelJob(store, clock, sink)
        self.purge = PurgeJobs(store, limits)

    async def add(self, queue: str = "steady", count: int = 1, **fields) -> list[str]:
        inserted = await self.enqueue([JobSpec(queue=queue, kind="task", **fields) for _ in range(count)])
        return [i.job_id for i in inserted]

    async def take(self, queue: str = "steady", count: int = 1, worker: str = "w1", **request):
        jobs = await self.lease(LeaseRequest((queue,), worker, count, **request))
        assert len(jobs) == count
        return jobs


@pytest.fixture
def world() -> World:
    return World()
