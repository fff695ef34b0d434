"""The composition root: builds the object graph from settings. Nothing else constructs adapters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import pathlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import grpc
from aiohttp import web

from broker.entities.errors import InvalidArgument, Unavailable
from broker.infra import embedded
from broker.infra import schedule_file
from broker.infra.clock import SystemClock
from broker.infra.cron import CroniterParser
from broker.infra.env import SettingsError
from broker.infra.logs import FanOutSink, LogEventSink
from broker.infra.metrics import BrokerMetrics, PoolUsage
from broker.infra.pg.listen import LocalNotifier, PgListener
from broker.infra.pg.keys import CachedKeyStore, PgKeyStore
from broker.infra.pg.migrate import migrate
from broker.infra.pg.pool import create_pool
from broker.infra.pg.schedules import PgScheduleStore
from broker.infra.pg.secrets import read_secret
from broker.infra.pg.store import PgJobStore
from broker.infra.runner import Loop, Runner
from broker.infra.settings import Settings, check_serving
from broker.interface.grpc.admin_service import AdminUseCases, ScheduleUseCases
from broker.interface.grpc.interceptors import InFlightStage, build_chain
from broker.interface.grpc.job_service import JobUseCases
from broker.interface.grpc.server import Health, build_server, listen, pending_calls
from broker.interface.http.api import DashboardUseCases
from broker.interface.http.server import build_app, tls_context
from broker.usecases.ack import Ack
from broker.usecases.admin import GetJob, ListJobs, Stats
from broker.usecases.authenticate import Authenticate
from broker.usecases.enqueue import Enqueue
from broker.usecases.heartbeat import Heartbeat
from broker.usecases.keys import CreateKey, ListKeys, RevokeKey
from broker.usecases.lease import LeaseJobs
from broker.usecases.nack import Nack
from broker.usecases.operate import CancelJob, PurgeJobs, RedriveJobs
from broker.usecases.overview import ReadOverview, Throughput
from broker.usecases.paging import PageTokens
from broker.usecases.prune import PruneFinished
from broker.usecases.rate_limit import RateLimiter
from broker.usecases.reap import ReapExpired
from broker.usecases.schedules.create import CreateSchedule
from broker.usecases.schedules.declare import ApplyDeclared
from broker.usecases.schedules.define import Definitions
from broker.usecases.schedules.delete import DeleteSchedule
from broker.usecases.schedules.fire_due import FireDue
from broker.usecases.schedules.listing import GetSchedule, ListSchedules
from broker.usecases.schedules.pause import PauseSchedule, ResumeSchedule
from broker.usecases.schedules.trigger import TriggerSchedule
from broker.usecases.schedules.update import UpdateSchedule

log = logging.getLogger("broker")
REAP_BATCH = 1000
SCHEDULE_BATCH = 100
# How long closing the pool may take at shutdown before the connections are cut.
POOL_CLOSE_TIMEOUT = 5.0


@dataclass
class Broker:
    """A running broker: its servers, background loops and database pool."""

    settings: Settings
    grpc_port: int
    http_port: int
    database_url: str
    health: Health
    store: PgJobStore
    metrics: BrokerMetrics
    reaper: ReapExpired
    pruner: PruneFinished
    _server: grpc.aio.Server
    _http: web.AppRunner
    _runner: Runner
    _notifier: LocalNotifier
    _pool: object
    _embedded: embedded.EmbeddedPostgres | None = None
    in_flight: InFlightStage | None = None  # the load-shedding stage: its counts, for tests
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)
    scheduler: FireDue | None = None  # the scheduler's pass, for tests to run at will

    @property
    def grpc_address(self) -> str:
        return f"{self.settings.server.grpc_addr.rsplit(':', 1)[0]}:{self.grpc_port}"

    def begin_shutdown(self) -> None:
        """The synchronous first step of stopping, safe to call from a signal handler: health
        reads NOT_SERVING, no lease is handed out from now on, and waiting long polls return
        empty at once. Both happen before any other task runs again."""
        self.health.begin_shutdown()
        self._notifier.close()

    async def stop(self, grace: float | None = None) -> None:
        """Graceful: NOT_SERVING first, long polls end, in-flight RPCs finish, loops stop, pool closes."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.settings.server.shutdown_grace if grace is None else grace
        self.begin_shutdown()
        await self.health.shutdown()
        await self._server.stop(grace)
        await self._runner.stop()
        await self._http.cleanup()
        try:
            await asyncio.wait_for(self._pool.close(), POOL_CLOSE_TIMEOUT)
        except TimeoutError:
            log.warning("pool did not close within %ss; cutting its connections", POOL_CLOSE_TIMEOUT)
            self._pool.terminate()
        if self._embedded:
            self._embedded.stop()
        log.info("broker stopped")

    async def wait_stopped(self) -> None:
        await self._server.wait_for_termination()


async def start(settings: Settings, clock=None, rng: random.Random | None = None,
                interceptors=()) -> Broker:
    """Build and start a broker. `clock` and `rng` let tests move time and fix jitter;
    `interceptors` run outside the request pipeline (interceptors.build_chain)."""
    check_serving(settings)
    clock = clock or SystemClock()
    db, url = None, settings.database.url
    if not url:
        db = await asyncio.to_thread(embedded.start, settings.database.data_dir)
        url = db.url
    pool = await create_pool(url, settings.database)
    if settings.database.migrate:
        async with pool.acquire() as conn:
            await migrate(conn)
    store = PgJobStore(pool, settings.database.acquire_timeout)
    overview = ReadOverview(store, clock, settings.observe.stats_cache)
    metrics = BrokerMetrics(overview, _pool_usage(pool))
    # Every committed state change: one log line, the counters, and a stale overview.
    notifier, limits = LocalNotifier(), settings.limits
    sink = FanOutSink(LogEventSink(), metrics, overview)
    jobs = JobUseCases(
        enqueue=Enqueue(store, clock, notifier, sink, settings.queues, limits),
        lease=LeaseJobs(store, clock, notifier, sink, limits, settings.server.long_poll_recheck),
        heartbeat=Heartbeat(store, clock, limits),
        ack=Ack(store, clock, sink, limits),
        nack=Nack(store, clock, notifier, sink, limits, rng),
    )
    try:
        schedules, scheduler = await _schedules(pool, settings, clock, jobs.enqueue, metrics)
    except BaseException:  # a bad schedules file: nothing else was started yet
        await pool.close()
        raise
    admin = AdminUseCases(
        schedules=schedules, get_job=GetJob(store), list_jobs=ListJobs(store, limits, PageTokens(await read_secret(pool, "page_token"))),
        stats=Stats(overview, limits),
        redrive=RedriveJobs(store, clock, notifier, sink, limits), cancel=CancelJob(store, clock, sink),
        purge=PurgeJobs(store, limits),
    )
    dashboard = DashboardUseCases(
        overview=overview, throughput=Throughput(store, clock, limits), get_job=admin.get_job,
        list_jobs=admin.list_jobs, redrive=admin.redrive, purge=admin.purge, schedules=schedules.list,
    ) if settings.observe.dashboard else None
    health = Health()
    authenticate = _authenticator(settings, pool)
    in_flight = InFlightStage(settings.server.max_in_flight, settings.server.max_long_polls)
    chain = build_chain(observe_rpc=metrics.observe_rpc, authenticate=authenticate,
                        limiter=RateLimiter(settings.rate_limits.rates), access_log=settings.log.access,
                        in_flight=in_flight)
    server = build_server(jobs, admin, health, [*interceptors, *chain], settings.server.reflection,
                          pending_calls(settings.server.max_in_flight, settings.server.max_long_polls))
    grpc_port = listen(server, settings.server.grpc_addr, **_tls(settings))
    await server.start()
    http = web.AppRunner(build_app(health, metrics.render, dashboard, authenticate), access_log=None)
    await http.setup()
    host, port = settings.server.http_addr.rsplit(":", 1)
    site = web.TCPSite(http, host, int(port), ssl_context=_http_tls(settings))
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]

    m = settings.maintenance
    reaper = ReapExpired(store, clock, notifier, sink, REAP_BATCH, rng)
    pruner = PruneFinished(store, clock, m.retention)
    runner = Runner()
    runner.start("reaper", Loop("reaper", reaper.run_once, m.reaper_interval, lambda n: n >= REAP_BATCH).run())
    runner.start("pruner", Loop("pruner", pruner.run_once, m.prune_interval).run())
    runner.start("scheduler", Loop("scheduler", scheduler.run_once, m.scheduler_interval,
                                   lambda n: n >= SCHEDULE_BATCH).run())
    runner.start("health", Loop("health", _health_check(store, health), m.health_interval).run())
    runner.start("listener", PgListener(url, notifier).run())
    await health.set(True)
    log.info("broker serving", extra={"grpc": f"{settings.server.grpc_addr.rsplit(':', 1)[0]}:{grpc_port}",
                                      "http": f"{host}:{http_port}", "embedded_db": bool(db),
                                      "tls": settings.security.tls_cert is not None})
    return Broker(settings, grpc_port, http_port, url, health, store, metrics, reaper, pruner, server, http,
                  runner, notifier, pool, db, in_flight, scheduler=scheduler)


async def _schedules(pool, settings: Settings, clock, enqueue: Enqueue,
                     metrics: BrokerMetrics) -> tuple[ScheduleUseCases, FireDue]:
    """The schedules' interactors and the scheduler's pass; BROKER_SCHEDULES_FILE applied first
    (a bad file stops start-up, naming the entry and field)."""
    store, cron = PgScheduleStore(pool, settings.database.acquire_timeout), CroniterParser()
    definitions = Definitions(cron, enqueue, settings.limits.max_batch)
    path = settings.maintenance.schedules_file
    if path:
        try:
            await ApplyDeclared(store, clock, definitions)(schedule_file.read(path))
        except InvalidArgument as exc:
            raise SettingsError(f"{schedule_file.SETTING}={path!r}: {exc}") from None
    use = ScheduleUseCases(
        create=CreateSchedule(store, clock, definitions), update=UpdateSchedule(store, clock, definitions),
        delete=DeleteSchedule(store), list=ListSchedules(store), get=GetSchedule(store),
        pause=PauseSchedule(store, clock), resume=ResumeSchedule(store, clock, definitions),
        trigger=TriggerSchedule(store, clock, enqueue))
    return use, FireDue(store, clock, cron, enqueue, metrics, SCHEDULE_BATCH, settings.limits.max_batch)


def _pool_usage(pool):
    def usage() -> PoolUsage:
        idle = pool.get_idle_size()
        return PoolUsage(in_use=pool.get_size() - idle, idle=idle, max_size=pool.get_max_size())
    return usage


def _authenticator(settings: Settings, pool) -> Authenticate | None:
    """With BROKER_AUTH on: API keys checked against their hashes, looked up through a short cache."""
    sec = settings.security
    if not sec.auth:
        return None
    return Authenticate(CachedKeyStore(PgKeyStore(pool, settings.database.acquire_timeout), sec.key_cache_ttl))


def _tls(settings: Settings) -> dict[str, bytes | None]:
    sec = settings.security

    def read(path: str | None) -> bytes | None:
        return pathlib.Path(path).read_bytes() if path else None

    return {"cert": read(sec.tls_cert), "key": read(sec.tls_key), "client_ca": read(sec.tls_client_ca)}


def _http_tls(settings: Settings):
    """With TLS configured, the HTTP port is HTTPS with the same certificates (None: plain HTTP)."""
    sec = settings.security
    return tls_context(sec.tls_cert, sec.tls_key, sec.tls_client_ca) if sec.tls_cert else None


@dataclass(frozen=True)
class KeyAdmin:
    """The operators' key commands, on a database of their own choosing."""

    create: CreateKey
    list: ListKeys
    revoke: RevokeKey


@contextlib.asynccontextmanager
async def key_admin(settings: Settings, clock=None) -> AsyncIterator[KeyAdmin]:
    """`broker keys ...`: a small pool on the broker's database (migrated first when allowed)."""
    clock = clock or SystemClock()
    db, url = None, settings.database.url
    if not url:
        db = await asyncio.to_thread(embedded.start, settings.database.data_dir, True)
        url = db.url
    pool = await create_pool(url, settings.database, size=1)
    try:
        if settings.database.migrate:
            async with pool.acquire() as conn:
                await migrate(conn)
        keys = PgKeyStore(pool, settings.database.acquire_timeout)
        yield KeyAdmin(CreateKey(keys, clock), ListKeys(keys), RevokeKey(keys, clock))
    finally:
        await pool.close()


def _health_check(store: PgJobStore, health: Health):
    async def run_once() -> None:
        try:
            async with asyncio.timeout(2.0):
                await store.ping()
            serving = True
        except (Unavailable, TimeoutError):
            serving = False
        if serving != health.serving:
            log.warning("database %s", "back: serving" if serving else "unreachable: not serving")
            await health.set(serving)
    return run_once
