"""The pure build step: settings and the ports' adapters in, the interactors and servicers out.

Nothing here opens a connection, binds a port or starts a task: `serve` calls it with PostgreSQL
and the system clock, the unit tests with the in-memory store and a clock they move, the SDK's
tests with the in-memory store behind a real gRPC server.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from broker.entities.queue import Limits
from broker.infra.logs import FanOutSink
from broker.infra.settings import Settings
from broker.infra.webhook_log import WebhookEvents
from broker.infra.cron import CroniterParser
from broker.interface.grpc.admin_service import AdminUseCases, QueueUseCases, ScheduleUseCases
from broker.interface.grpc.interceptors import InFlightStage, build_chain
from broker.interface.grpc.job_service import JobUseCases
from broker.interface.grpc.server import Health, build_server, pending_calls
from broker.interface.http.api import DashboardUseCases
from broker.usecases.ack import Ack
from broker.usecases.authenticate import Authenticate
from broker.usecases.cancel import CancelJob
from broker.usecases.enqueue import Enqueue
from broker.usecases.group_commit import GroupCommit, WriteListener
from broker.usecases.get_job import GetJob
from broker.usecases.heartbeat import Heartbeat
from broker.usecases.keys.create import CreateKey
from broker.usecases.keys.listing import ListKeys
from broker.usecases.keys.revoke import RevokeKey
from broker.usecases.lease import LeaseJobs
from broker.usecases.list_jobs import ListJobs
from broker.usecases.nack import Nack
from broker.usecases.overview import ReadOverview
from broker.usecases.paging import PageTokens
from broker.usecases.ports import Clock, EventSink, JobStore, KeyStore, Notifier
from broker.usecases.prune import PruneFinished
from broker.usecases.purge import PurgeJobs
from broker.usecases.rate_limit import RateLimiter
from broker.usecases.reap import ReapExpired
from broker.usecases.receive_webhook import ReceiveWebhook, WebhookLog
from broker.usecases.redrive import RedriveJobs
from broker.usecases.queues.listing import GetQueue, ListQueues
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
from broker.usecases.throughput import Throughput

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


@dataclass(frozen=True)
class KeyAdmin:
    """The operators' key commands (`broker keys`)."""

    create: CreateKey
    list: ListKeys
    revoke: RevokeKey


def build(settings: Settings, *, store: JobStore, clock: Clock, notifier: Notifier, page_secret: bytes,
          sinks: Sequence[EventSink] = (), keys: KeyStore | None = None,
          rng: random.Random | None = None, webhook_log: WebhookLog | None = None,
          schedules: ScheduleStore | None = None, fire_listener: FireListener | None = None,
          queues: QueueStore | None = None, write_listener: WriteListener | None = None) -> UseCases:
    """Every interactor, wired to the adapters given. `sinks` hear of every committed state
    change (as does the overview, whose cache it makes stale); `keys` is required with
    BROKER_AUTH on; `rng` fixes the retry jitter; `webhook_log` hears of every inbound webhook;
    `schedules` holds the cron schedules (without it, no schedule calls and no scheduler);
    `fire_listener` hears of each fire's lag; `queues` holds the queues' controls (without it, no
    queue calls; the job store's claim obeys the controls either way); `write_listener` hears how
    many Enqueue calls each write to the store carried (group commit)."""
    if settings.security.auth and keys is None:
        raise ValueError("build: BROKER_AUTH is on but no key store was given")
    overview = ReadOverview(store, clock, settings.observe.stats_cache)
    sink = FanOutSink(*sinks, overview)
    limits, m = settings.limits, settings.maintenance
    jobs = _jobs(settings, store, clock, notifier, sink, rng, write_listener)
    enqueue = jobs.enqueue
    sched = _schedules(settings, schedules, clock, enqueue, fire_listener) if schedules else None
    admin = AdminUseCases(
        schedules=sched and sched[0], get_job=GetJob(store), list_jobs=ListJobs(store, limits, PageTokens(page_secret)),
        stats=Stats(overview, limits, queues),
        redrive=RedriveJobs(store, clock, notifier, sink, limits), cancel=CancelJob(store, clock, sink),
        purge=PurgeJobs(store, limits), queues=queues and QueueUseCases(
            get=GetQueue(queues, limits), list=ListQueues(queues),
            update=UpdateQueue(queues, clock, notifier, limits)),
    )
    dashboard = _dashboard(store, clock, limits, overview, admin) if settings.observe.dashboard else None
    return UseCases(
        jobs=jobs, admin=admin, dashboard=dashboard, overview=overview,
        reaper=ReapExpired(store, clock, notifier, sink, REAP_BATCH, rng),
        pruner=PruneFinished(store, clock, m.retention),
        authenticate=Authenticate(keys) if settings.security.auth else None,
        limiter=RateLimiter(settings.rate_limits.rates),
        webhooks=_webhooks(settings, jobs.enqueue, clock, webhook_log or WebhookEvents()),
        scheduler=sched and sched[1], declare_schedules=sched and sched[2],
    )


def _jobs(settings: Settings, store: JobStore, clock: Clock, notifier: Notifier, sink: EventSink,
          rng: random.Random | None, write_listener: WriteListener | None) -> JobUseCases:
    """The workers' and producers' interactors (JobService); Enqueue writes through a group
    commit unless BROKER_GROUP_COMMIT_WRITERS is 0."""
    limits, d = settings.limits, settings.database
    write = (GroupCommit(store.enqueue, d.group_commit_writers, d.group_commit_max_jobs, write_listener)
             if d.group_commit_writers else None)
    return JobUseCases(
        enqueue=Enqueue(store, clock, notifier, sink, settings.queues, limits, write),
        lease=LeaseJobs(store, clock, notifier, sink, limits, settings.server.long_poll_recheck),
        heartbeat=Heartbeat(store, clock, limits),
        ack=Ack(store, clock, sink, limits),
        nack=Nack(store, clock, notifier, sink, limits, rng),
    )


def _dashboard(store: JobStore, clock: Clock, limits: Limits, overview: ReadOverview,
               admin: AdminUseCases) -> DashboardUseCases:
    """The dashboard's API: the operators' interactors it shares, and the charts' throughput."""
    return DashboardUseCases(
        overview=overview, throughput=Throughput(store, clock, limits), get_job=admin.get_job,
        list_jobs=admin.list_jobs, redrive=admin.redrive, purge=admin.purge,
        schedules=admin.schedules and admin.schedules.list, queues=admin.queues and admin.queues.list,
    )


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


def _webhooks(settings: Settings, enqueue: Enqueue, clock: Clock, log: WebhookLog) -> ReceiveWebhook:
    w = settings.webhooks
    return ReceiveWebhook(w.sources, enqueue, clock, log, tolerance=w.tolerance, max_body=w.max_body,
                          max_key_length=settings.limits.max_key_length)


def key_admin(keys: KeyStore, clock: Clock) -> KeyAdmin:
    return KeyAdmin(CreateKey(keys, clock), ListKeys(keys), RevokeKey(keys, clock))


def grpc_server(settings: Settings, use: UseCases, health: Health, observe_rpc=None,
                outer: Sequence[object] = ()) -> tuple[grpc.aio.Server, InFlightStage]:
    """The gRPC server with its servicers behind the request pipeline (not bound, not started).
    `observe_rpc` records each call's duration (the metrics); `outer` interceptors run first."""
    srv = settings.server
    in_flight = InFlightStage(srv.max_in_flight, srv.max_long_polls)
    metrics = {"observe_rpc": observe_rpc} if observe_rpc is not None else {}
    chain = build_chain(**metrics, authenticate=use.authenticate, limiter=use.limiter,
                        access_log=settings.log.access, in_flight=in_flight)
    server = build_server(use.jobs, use.admin, health, [*outer, *chain], srv.reflection,
                          pending_calls(srv.max_in_flight, srv.max_long_polls))
    return server, in_flight
