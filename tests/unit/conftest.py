"""Interactors wired to the fakes by the broker's own build step (broker.app.build): an
in-memory store, a clock that moves only when told, and a notifier and event sink that record
what they are told."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from broker.entities.job_view import JobFilter, views_of
from broker.app.build import build
from broker.entities.queue import Limits, QueueConfig, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra.settings import DatabaseSettings, MaintenanceSettings, ObserveSettings, Settings
from broker.usecases.enqueue import JobSpec
from broker.usecases.lease import LeaseRequest
from broker.usecases.callbacks.define import DeliveryPolicy
from broker.usecases.callbacks.ports import Reply
from tests.fakes import InMemoryJobStore, ManualClock, RecordingEventSink, RecordingNotifier
from tests.fakes.subscription_store import InMemorySubscriptionStore


class ScriptedSender:
    """The Sender port for unit tests: records each post and answers with the next scripted
    Reply (200 when the script is empty)."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, bytes, dict]] = []
        self.replies: list[Reply] = []

    async def post(self, url, body, headers, timeout) -> Reply:
        self.posts.append((url, body, dict(headers)))
        return self.replies.pop(0) if self.replies else Reply(200, "ok")

# Retries in the queue "steady" wait exactly 1 s, 2 s, 4 s ... (no jitter).
STEADY = QueueDefaults(max_attempts=3, retry=RetryPolicy(1.0, 60.0, 2.0, Jitter.NONE), lease_duration=30.0)
SEED = 1234
PAGE_SECRET = b"unit tests' page token secret"


@dataclass
class World:
    limits: Limits = field(default_factory=Limits)
    queues: QueueConfig = field(default_factory=lambda: QueueConfig(overrides={"steady": STEADY}))
    clock: ManualClock = field(default_factory=ManualClock)
    store: InMemoryJobStore = field(default_factory=InMemoryJobStore)
    sink: RecordingEventSink = field(default_factory=RecordingEventSink)
    notifier: RecordingNotifier | None = None
    retention: float = 3600.0
    callbacks: DeliveryPolicy = field(default_factory=lambda: DeliveryPolicy(
        retry=RetryPolicy(1.0, 60.0, 2.0, Jitter.NONE)))
    sender: ScriptedSender = field(default_factory=ScriptedSender)
    claimers: int = 2  # BROKER_CLAIM_CLAIMERS (0: no claim coalescing, no task per claim)

    def __post_init__(self) -> None:
        if self.notifier is None:
            self.notifier = RecordingNotifier(self.clock)
        settings = Settings(limits=self.limits, queues=self.queues,
                            maintenance=MaintenanceSettings(retention=self.retention),
                            observe=ObserveSettings(stats_cache=0),  # each read sees the store
                            callbacks=self.callbacks, database=DatabaseSettings(claim_claimers=self.claimers))
        self.subscriptions = InMemorySubscriptionStore(self.store)
        use = build(settings, store=self.store, clock=self.clock, notifier=self.notifier, sinks=(self.sink,),
                    page_secret=PAGE_SECRET, rng=random.Random(SEED), subscriptions=self.subscriptions,
                    sender=self.sender)
        jobs, admin = use.jobs, use.admin
        self.enqueue, self.lease, self.heartbeat, self.ack, self.nack, self.snooze = (
            jobs.enqueue, jobs.lease, jobs.heartbeat, jobs.ack, jobs.nack, jobs.snooze)
        self.get_job, self.stats, self.list_filtered = admin.get_job, admin.stats, admin.list_jobs
        self.retry = use.dashboard.retry
        self.redrive, self.cancel, self.purge = admin.redrive, admin.cancel, admin.purge
        self.reap, self.prune, self.overview = use.reaper, use.pruner, use.overview
        self.subscribe, self.deliverer = admin.callbacks, use.deliverer

    async def list_jobs(self, queue, state, page_size, page_token=""):
        """ListJobs as the ListJobs RPC asks it: by queue and state."""
        where = JobFilter(queue=queue, views=views_of(state) if state else frozenset())
        return await self.list_filtered(where, page_size, page_token)

    async def workers(self):
        return list((await self.overview()).workers)

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
