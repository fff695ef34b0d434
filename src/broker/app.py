"""The composition root: builds the object graph from settings. Nothing else constructs adapters."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass, field

import grpc
from aiohttp import web

from broker.entities.errors import Unavailable
from broker.infra import embedded
from broker.infra.clock import SystemClock
from broker.infra.logs import FanOutSink, LogEventSink
from broker.infra.metrics import BrokerMetrics, PoolUsage
from broker.infra.pg.listen import LocalNotifier, PgListener
from broker.infra.pg.migrate import migrate
from broker.infra.pg.pool import create_pool
from broker.infra.pg.store import PgJobStore
from broker.infra.runner import Loop, Runner
from broker.infra.settings import Settings
from broker.interface.grpc.admin_service import AdminUseCases
from broker.interface.grpc.job_service import JobUseCases
from broker.interface.grpc.interceptors.metrics import MetricsInterceptor
from broker.interface.grpc.server import Health, build_server
from broker.interface.http.api import DashboardUseCases
from broker.interface.http.server import build_app
from broker.usecases.ack import Ack
from broker.usecases.admin import GetJob, ListJobs, Stats
from broker.usecases.enqueue import Enqueue
from broker.usecases.heartbeat import Heartbeat
from broker.usecases.lease import LeaseJobs
from broker.usecases.nack import Nack
from broker.usecases.operate import CancelJob, PurgeJobs, RedriveJobs
from broker.usecases.overview import ReadOverview, Throughput
from broker.usecases.prune import PruneFinished
from broker.usecases.reap import ReapExpired

log = logging.getLogger("broker")
REAP_BATCH = 1000


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
    _stopped: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def grpc_address(self) -> str:
        return f"{self.settings.server.grpc_addr.rsplit(':', 1)[0]}:{self.grpc_port}"

    async def stop(self, grace: float | None = None) -> None:
        """Graceful: NOT_SERVING first, long polls end, in-flight RPCs finish, loops stop, pool closes."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        grace = self.settings.server.shutdown_grace if grace is None else grace
        await self.health.shutdown()
        self._notifier.close()
        await self._server.stop(grace)
        await self._runner.stop()
        await self._http.cleanup()
        await self._pool.close()
        if self._embedded:
            self._embedded.stop()
        log.info("broker stopped")

    async def wait_stopped(self) -> None:
        await self._server.wait_for_termination()


async def start(settings: Settings, clock=None, rng: random.Random | None = None,
                interceptors=()) -> Broker:
    """Build and start a broker. `clock` and `rng` let tests move time and fix jitter."""
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
        lease=LeaseJobs(store, clock, notifier, sink, limits),
        heartbeat=Heartbeat(store, clock, limits),
        ack=Ack(store, clock, sink, limits),
        nack=Nack(store, clock, sink, limits, rng),
    )
    admin = AdminUseCases(
        get_job=GetJob(store), list_jobs=ListJobs(store, limits), stats=Stats(overview),
        redrive=RedriveJobs(store, clock, notifier, sink, limits), cancel=CancelJob(store, clock, sink),
        purge=PurgeJobs(store, limits),
    )
    dashboard = DashboardUseCases(
        overview=overview, throughput=Throughput(store, clock), get_job=admin.get_job,
        list_jobs=admin.list_jobs, redrive=admin.redrive, purge=admin.purge,
    ) if settings.observe.dashboard else None
    health = Health()
    # Metrics outermost: it times and counts every call, refusals by later interceptors included.
    chain = [MetricsInterceptor(metrics.observe_rpc), *interceptors]
    server = build_server(jobs, admin, health, chain, settings.server.reflection)
    grpc_port = server.add_insecure_port(settings.server.grpc_addr)
    if grpc_port == 0:
        raise OSError(f"cannot listen for gRPC on {settings.server.grpc_addr}")
    await server.start()
    http = web.AppRunner(build_app(health, metrics.render, dashboard), access_log=None)
    await http.setup()
    host, port = settings.server.http_addr.rsplit(":", 1)
    site = web.TCPSite(http, host, int(port))
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]

    m = settings.maintenance
    reaper = ReapExpired(store, clock, notifier, sink, REAP_BATCH, rng)
    pruner = PruneFinished(store, clock, m.retention)
    runner = Runner()
    runner.start("reaper", Loop("reaper", reaper.run_once, m.reaper_interval, lambda n: n >= REAP_BATCH).run())
    runner.start("pruner", Loop("pruner", pruner.run_once, m.prune_interval).run())
    runner.start("health", Loop("health", _health_check(store, health), m.health_interval).run())
    runner.start("listener", PgListener(url, notifier).run())
    await health.set(True)
    log.info("broker serving", extra={"grpc": f"{settings.server.grpc_addr.rsplit(':', 1)[0]}:{grpc_port}",
                                      "http": f"{host}:{http_port}", "embedded_db": bool(db)})
    return Broker(settings, grpc_port, http_port, url, health, store, metrics, reaper, pruner, server, http,
                  runner, notifier, pool, db)


def _pool_usage(pool):
    def usage() -> PoolUsage:
        idle = pool.get_idle_size()
        return PoolUsage(in_use=pool.get_size() - idle, idle=idle, max_size=pool.get_max_size())
    return usage


def _health_check(store: PgJobStore, health: Health):
    async def run_once() -> None:
        try:
            await asyncio.wait_for(store.ping(), 2.0)
            serving = True
        except (Unavailable, TimeoutError):
            serving = False
        if serving != health.serving:
            log.warning("database %s", "back: serving" if serving else "unreachable: not serving")
            await health.set(serving)
    return run_once
