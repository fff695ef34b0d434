"""The pure build step: settings and the ports' adapters in, the interactors and servicers out.

Nothing here opens a connection, binds a port or starts a task: `serve` calls it with PostgreSQL
and the system clock, the unit tests with the in-memory store and a clock they move, the SDK's
tests with the in-memory store behind a real gRPC server.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

import grpc

from broker.entities.queue import Limits
from broker.infra.logs import FanOutSink
from broker.infra.settings import Settings
from broker.infra.webhook_log import WebhookEvents
from broker.app import build_dashboard
from broker.app.build_payloads import PayloadParts, payload_use_cases
from broker.app.build_workers import worker_parts
from broker.infra.cron import CroniterParser
from broker.interface.grpc.admin_service import (AdminUseCases, CallbackUseCases, QueueUseCases, ScheduleUseCases,
                                                 WebhookSourceUseCases)
from broker.interface.grpc.interceptors import InFlightStage, build_chain
from broker.interface.grpc.job_service import JobUseCases
from broker.interface.grpc.server import Health, build_server, pending_calls
from broker.interface.http.api import DashboardUseCases
from broker.usecases.ack import Ack
from broker.usecases.authenticate import Authenticate
from broker.usecases.callbacks.create import CreateSubscription
from broker.usecases.callbacks.define import Definitions as SubscriptionDefinitions
from broker.usecases.callbacks.deliver import DeliverCallbacks
from broker.usecases.callbacks.delete import DeleteSubscription
from broker.usecases.callbacks.listing import GetSubscription, ListSubscriptions
from broker.usecases.callbacks.ports import DeliveryListener, Sender, SubscriptionStore
from broker.usecases.callbacks.update import UpdateSubscription
from broker.usecases.webhook_sources.create import CreateWebhookSource
from broker.usecases.webhook_sources.delete import DeleteWebhookSource
from broker.usecases.webhook_sources.listing import GetWebhookSource, ListWebhookSources
from broker.usecases.webhook_sources.update import UpdateWebhookSource
from broker.usecases.webhook_sources.ports import WebhookSourceStore
from broker.usecases.cancel import CancelJob
from broker.usecases.claim_coalesce import ClaimCoalescer, ClaimListener, counted
from broker.usecases.enqueue import Enqueue
from broker.usecases.group_commit import GroupCommit, WriteListener
from broker.usecases.settlement import CoalescedSettlement, SettleListener
from broker.usecases.get_job import GetJob
from broker.usecases.heartbeat import Heartbeat
from broker.usecases.keys.create import CreateKey
from broker.usecases.keys.listing import ListKeys
from broker.usecases.keys.revoke import RevokeKey
from broker.usecases.lease import LeaseJobs
from broker.usecases.list_jobs import ListJobs
from broker.usecases.nack import Nack
from broker.usecases.snooze import Snooze
from broker.usecases.overview import ReadOverview
from broker.usecases.paging import PageTokens
from broker.usecases.payloads.collect import CollectPayloads
from broker.usecases.payloads.ports import PayloadEvents
from broker.usecases.ports import Clock, EventSink, JobStore, KeyStore, Notifier
from broker.usecases.prune import PruneFinished
from broker.usecases.purge import PurgeJobs
from broker.usecases.rate_limit import RateLimiter
from broker.usecases.reap import ReapExpired
from broker.usecases.receive_webhook import ReceiveWebhook, WebhookLog
from broker.usecases.redrive import RedriveJobs
from broker.usecases.queues.breakers import CoolDownBreakers, CountOutcomes
from broker.usecases.queues.listing import GetQueue, ListQueues
from broker.usecases.queues.parts import QueueParts
from broker.usecases.queues.retry_ports import RetryStore
from broker.usecases.queues.ports import QueueStore
from broker.usecases.queues.update import UpdateQueue
from broker.usecases.schedules.create import CreateSchedule
from broker.usecases.schedules.declare import ApplyDeclared
from broker.usecases.schedules.define import Definitions
from broker.usecases.schedules.delete import DeleteSchedule
from broker.usecases.schedules.fire_due import FireDue, FireListener
from broker.usecases.schedules.get import GetSchedule
from broker.usecases.schedules.listing import ListSchedules
from broker.usecases.schedules.pause import PauseSchedule
from broker.usecases.schedules.ports import ScheduleStore
from broker.usecases.schedules.resume import ResumeSchedule
from broker.usecases.schedules.trigger import TriggerSchedule
from broker.usecases.schedules.update import UpdateSchedule
from broker.usecases.stats import Stats
from broker.usecases.workers.flush import FlushObservations
from broker.usecases.workers.ports import ObservationStore
from broker.usecases.workers.registry import WorkerRegistry

# Lapsed leases one reaper pass takes at most; a full pass runs the next one at once.
REAP_BATCH = 1000
# Due schedules one scheduler pass takes at most; a full pass runs the next one at once.
SCHEDULE_BATCH = 100


@dataclass(frozen=True)
class UseCases:
    """The broker's interactors, grouped as the servicers and loops take them."""

    jobs: JobUseCases
    admin: AdminUseCases
    dashboard: DashboardUseCases | None  # None with BROKER_DASHBOARD off
    overview: ReadOverview
    reaper: ReapExpired
    pruner: PruneFinished
    authenticate: Authenticate | None  # None with BROKER_AUTH off
    limiter: RateLimiter
    webhooks: ReceiveWebhook | None = None  # POST /webhooks/{source}
    scheduler: FireDue | None = None  # None without a schedule store
    declare_schedules: ApplyDeclared | None = None  # BROKER_SCHEDULES_FILE, applied by serve
    deliverer: DeliverCallbacks | None = None  # the outbound callbacks' worker (with a sender)
    breakers: CoolDownBreakers | None = None  # the breakers' cool-down pass; None without a breaker store
    collector: CollectPayloads | None = None  # None without object storage
    observations: FlushObservations | None = None  # the workers seen and latency counts, flushed; None without a store


@dataclass(frozen=True)
class Listeners:
    """What hears of the broker's work beside the event sinks (the metrics, in `serve`)."""

    fire: FireListener | None = None  # each schedule fire's lag
    delivery: DeliveryListener | None = None  # each callback delivery attempt
    write: WriteListener | None = None  # the Enqueue calls each write to the store carried
    claim: ClaimListener | None = None  # the Lease calls each claim of the store served
    payload: PayloadEvents | None = None  # each payload object made, streamed, offloaded or deleted
    settle: SettleListener | None = None  # the Ack, Nack, Snooze and Heartbeat calls each write carried

    @classmethod
    def all(cls, listener) -> Listeners:
        """Every listener the same object (the metrics)."""
        return cls(**{name: listener for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class KeyAdmin:
    """The operators' key commands (`broker keys`)."""

    create: CreateKey
    list: ListKeys
    revoke: RevokeKey


def build(settings: Settings, *, store: JobStore, clock: Clock, notifier: Notifier, page_secret: bytes,
          sinks: Sequence[EventSink] = (), keys: KeyStore | None = None, rng: random.Random | None = None,
          webhook_log: WebhookLog | None = None, schedules: ScheduleStore | None = None,
          queues: QueueStore | None = None, subscriptions: SubscriptionStore | None = None,
          sender: Sender | None = None, worker_id: str = "broker", webhook_sources: WebhookSourceStore | None = None,
          parts: QueueParts = QueueParts(), payloads: PayloadParts = PayloadParts(),
          listeners: Listeners = Listeners(), observations: ObservationStore | None = None) -> UseCases:
    """Every interactor, wired to the adapters given. `sinks` hear of every committed state change (as
    does the overview, whose cache it makes stale); `keys` is required with BROKER_AUTH on; `rng` fixes
    the retry jitter; `webhook_log` hears of every inbound webhook; without `schedules`, no schedule
    calls and no scheduler; without `queues`, no queue calls (the claim obeys the controls either way);
    `parts` the queues' breakers (without them, no outcome is counted) and run-time retry policies;
    `subscriptions` the callback subscriptions, whose deliveries `sender` posts (without it, no delivery
    worker), leasing as `worker_id`; `webhook_sources` those made at run time; `payloads` the object
    storage and its records (both needed with BROKER_S3_BUCKET); `observations` keeps the workers seen
    and latency counts; `listeners` hear of fires' lags, deliveries, coalesced writes and objects."""
    if settings.security.auth and keys is None:
        raise ValueError("build: BROKER_AUTH is on but no key store was given")
    overview, w = ReadOverview(store, clock, settings.observe.stats_cache), worker_parts(settings, store, observations, clock, worker_id)
    sink, limits, m = FanOutSink(*sinks, overview, *w.sinks), settings.limits, settings.maintenance
    outcomes = (breakers := parts.breakers) and CountOutcomes(breakers, clock, notifier)
    jobs = _jobs(settings, store, clock, notifier, sink, rng, listeners, outcomes, parts.retry, payloads, w.registry)
    sched = _schedules(settings, schedules, clock, jobs.enqueue, listeners.fire) if schedules else None
    admin = replace(_admin(settings, store, clock, notifier, sink, overview, page_secret, queues, parts),
                    schedules=sched and sched[0], callbacks=subscriptions and _callbacks(settings, subscriptions, clock),
                    webhook_sources=webhook_sources and _webhook_sources(settings, webhook_sources, clock))
    dashboard = settings.observe.dashboard and build_dashboard.dashboard(
        store, clock, notifier, sink, limits, overview, admin, w.use)
    return UseCases(
        jobs=jobs, admin=admin, dashboard=dashboard or None, overview=overview,
        reaper=ReapExpired(store, clock, notifier, sink, REAP_BATCH, rng, outcomes),
        pruner=PruneFinished(store, clock, m.retention, partition=m.events_partition, also=w.prunes),
        authenticate=Authenticate(keys) if settings.security.auth else None, observations=w.flush,
        limiter=RateLimiter(settings.rate_limits.rates),
        webhooks=_webhooks(settings, jobs.enqueue, clock, webhook_log or WebhookEvents(), webhook_sources),
        scheduler=sched and sched[1], declare_schedules=sched and sched[2],
        deliverer=subscriptions and sender and DeliverCallbacks(
            store, subscriptions, sender, clock, notifier, sink, settings.callbacks, f"{worker_id}/callbacks", rng,
            listeners.delivery),
        breakers=breakers and CoolDownBreakers(breakers, clock, notifier), collector=jobs.payloads and jobs.payloads.collect)


def _admin(settings: Settings, store: JobStore, clock: Clock, notifier: Notifier, sink: EventSink,
           overview: ReadOverview, page_secret: bytes, queues: QueueStore | None,
           parts: QueueParts) -> AdminUseCases:
    """The operators' interactors on jobs and queues (AdminService)."""
    limits = settings.limits
    return AdminUseCases(
        get_job=GetJob(store), list_jobs=ListJobs(store, limits, PageTokens(page_secret), clock),
        stats=Stats(overview, limits, queues, parts.breakers),
        redrive=RedriveJobs(store, clock, notifier, sink, limits), cancel=CancelJob(store, clock, sink),
        purge=PurgeJobs(store, limits), queues=queues and _queues(settings, queues, clock, notifier, parts),
    )


def _jobs(settings: Settings, store: JobStore, clock: Clock, notifier: Notifier, sink: EventSink,
          rng: random.Random | None, listeners: Listeners, outcomes: CountOutcomes | None = None,
          retry: RetryStore | None = None, objects: PayloadParts = PayloadParts(),
          workers: WorkerRegistry | None = None) -> JobUseCases:
    """The workers' and producers' interactors (JobService); Enqueue writes through a group
    commit unless BROKER_GROUP_COMMIT_WRITERS is 0, the settling calls coalesced unless
    BROKER_SETTLE_WRITERS is 0, Lease claims through a claim coalescer when BROKER_CLAIM_CLAIMERS
    is set (off by default), and with object storage Enqueue offloads payloads."""
    limits, d = settings.limits, settings.database
    write = (GroupCommit(store.enqueue, d.group_commit_writers, d.group_commit_max_jobs, listeners.write)
             if d.group_commit_writers else None)
    claim = (ClaimCoalescer(store, clock, notifier, sink, d.claim_claimers, d.claim_max_jobs, listeners.claim)
             if d.claim_claimers else counted(store.claim, listeners.claim))
    payloads = payload_use_cases(settings.storage, objects, clock, listeners.payload)
    settling = (CoalescedSettlement(store, d.settle_writers, d.settle_max_leases, listeners.settle)
                if d.settle_writers else store)
    return JobUseCases(
        enqueue=Enqueue(store, clock, notifier, sink, settings.queues, limits, retry, write,
                        payloads and payloads.prepare), payloads=payloads,
        lease=LeaseJobs(store, clock, notifier, sink, limits, settings.server.long_poll_recheck, workers, claim),
        heartbeat=Heartbeat(settling, clock, limits, sink),
        ack=Ack(settling, clock, sink, limits, outcomes),
        nack=Nack(settling, clock, notifier, sink, limits, rng, outcomes),
        snooze=Snooze(settling, clock, notifier, sink, limits),
    )


def _queues(settings: Settings, queues: QueueStore, clock: Clock, notifier: Notifier,
            parts: QueueParts) -> QueueUseCases:
    limits = settings.limits
    return QueueUseCases(get=GetQueue(queues, limits, parts), list=ListQueues(queues, parts),
                         update=UpdateQueue(queues, clock, notifier, limits, parts, settings.queues))


def _schedules(settings: Settings, store: ScheduleStore, clock: Clock, enqueue: Enqueue,
               listener: FireListener | None) -> tuple[ScheduleUseCases, FireDue, ApplyDeclared]:
    """The schedules' interactors, the scheduler's pass and the schedules file's applier."""
    cron = CroniterParser()
    definitions = Definitions(cron, enqueue, settings.limits.max_batch)
    use = ScheduleUseCases(
        create=CreateSchedule(store, clock, definitions), update=UpdateSchedule(store, clock, definitions),
        delete=DeleteSchedule(store), list=ListSchedules(store), get=GetSchedule(store),
        pause=PauseSchedule(store, clock), resume=ResumeSchedule(store, clock, definitions),
        trigger=TriggerSchedule(store, clock, enqueue))
    scheduler = FireDue(store, clock, cron, enqueue, listener, SCHEDULE_BATCH, settings.limits.max_batch)
    return use, scheduler, ApplyDeclared(store, clock, definitions)


def _callbacks(settings: Settings, store: SubscriptionStore, clock: Clock) -> CallbackUseCases:
    definitions = SubscriptionDefinitions(settings.limits, settings.callbacks)
    return CallbackUseCases(create=CreateSubscription(store, clock, definitions),
                            update=UpdateSubscription(store, clock, definitions), get=GetSubscription(store),
                            list=ListSubscriptions(store), delete=DeleteSubscription(store))


def _webhook_sources(settings: Settings, store: WebhookSourceStore, clock: Clock) -> WebhookSourceUseCases:
    limits, file = settings.limits, settings.webhooks.sources
    return WebhookSourceUseCases(
        create=CreateWebhookSource(store, clock, limits, file), update=UpdateWebhookSource(store, clock, limits, file),
        get=GetWebhookSource(store, file), list=ListWebhookSources(store, file), delete=DeleteWebhookSource(store, file))


def _webhooks(settings: Settings, enqueue: Enqueue, clock: Clock, log: WebhookLog,
              stored: WebhookSourceStore | None) -> ReceiveWebhook:
    w = settings.webhooks
    return ReceiveWebhook(w.sources, enqueue, clock, log, tolerance=w.tolerance, max_body=w.max_body,
                          max_key_length=settings.limits.max_key_length, stored=stored)


def key_admin(keys: KeyStore, clock: Clock) -> KeyAdmin:
    return KeyAdmin(CreateKey(keys, clock), ListKeys(keys), RevokeKey(keys, clock))


def grpc_server(settings: Settings, use: UseCases, health: Health, observe_rpc=None,
                outer: Sequence[object] = (), tracing=None) -> tuple[grpc.aio.Server, InFlightStage]:
    """The gRPC server with its servicers behind the request pipeline (not bound, not started).
    `observe_rpc` records each call's duration (the metrics); `outer` interceptors run first;
    `tracing` (infra/tracing.py, when BROKER_OTEL turned it on) adds the tracing stage."""
    srv = settings.server
    in_flight = InFlightStage(srv.max_in_flight, srv.max_long_polls)
    metrics = {"observe_rpc": observe_rpc} if observe_rpc is not None else {}
    chain = build_chain(**metrics, authenticate=use.authenticate, limiter=use.limiter,
                        access_log=settings.log.access, in_flight=in_flight,
                        tracer=tracing.tracer if tracing is not None else None)
    server = build_server(use.jobs, use.admin, health, [*outer, *chain], srv.reflection,
                          pending_calls(srv.max_in_flight, srv.max_long_polls))
    return server, in_flight
