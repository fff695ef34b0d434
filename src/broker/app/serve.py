"""The serve step: opens the database, builds the graph on it (build.build), binds the gRPC and
HTTP ports, starts the background loops, and stops all of it in order."""

from __future__ import annotations

import asyncio
import logging
import pathlib
import random
from dataclasses import dataclass, field

import grpc
from aiohttp import web

from broker.app import build as graph
from broker.app.database import Database, open_database
from broker.entities.errors import InvalidArgument, Unavailable
from broker.infra import schedule_file
from broker.infra.clock import SystemClock
from broker.infra.embedded import EmbeddedPostgres
from broker.infra.env import SettingsError
from broker.infra.logs import LogEventSink
from broker.infra.metrics import BrokerMetrics, PoolUsage
from broker.infra.pg.keys import CachedKeyStore, PgKeyStore
from broker.infra.pg.queues import PgQueueStore
from broker.infra.pg.schedules import PgScheduleStore
from broker.infra.pg.listen import LocalNotifier, PgListener
from broker.infra.pg.secrets import read_secret
from broker.infra.pg import enqueue_settings
from broker.infra.pg.store import PgJobStore
from broker.infra.runner import Loop, Runner
from broker.infra.settings import Settings, check_serving
from broker.infra.webhook_log import WebhookEvents
from broker.interface.grpc.interceptors import InFlightStage
from broker.interface.grpc.server import Health, listen
from broker.interface.http.server import build_app, tls_context
from broker.usecases.prune import PruneFinished
from broker.usecases.reap import ReapExpired
from broker.usecases.schedules.declare import ApplyDeclared
from broker.usecases.schedules.fire_due import FireDue

log = logging.getLogger("broker")
REAP_BATCH, SCHEDULE_BATCH = graph.REAP_BATCH, graph.SCHEDULE_BATCH
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
    _embedded: EmbeddedPostgres | None = None
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
    db = await open_database(settings)
    await enqueue_settings.publish(db.pool, settings.queues, settings.limits)  # for broker_enqueue (SQL)
    store, notifier = PgJobStore(db.pool, settings.database.acquire_timeout,
                                 on_rate_limited=lambda q: metrics.rate_limited(q)), LocalNotifier()
    # Bound late: the metrics read build's overview at scrape time; the store counts rate-limited claims.
    metrics = BrokerMetrics(lambda: use.overview(), _pool_usage(db.pool), lambda: use.admin.queues.list())
    # Every committed state change: one log line, the counters, and a stale overview.
    use = graph.build(settings, store=store, clock=clock, notifier=notifier, sinks=(LogEventSink(), metrics),
                      page_secret=await read_secret(db.pool, "page_token"), keys=_key_store(settings, db), rng=rng,
                      webhook_log=WebhookEvents(metrics.webhook_received),
                      schedules=PgScheduleStore(db.pool, settings.database.acquire_timeout), fire_listener=metrics,
                      write_listener=metrics, queues=PgQueueStore(db.pool, settings.database.acquire_timeout,
                                                                  store.controls_changed))
    try:
        await _declare_schedules(settings, use.declare_schedules)
    except BaseException:  # a bad schedules file: nothing else was started yet
        await db.pool.close()
        if db.embedded:
            db.embedded.stop()
        raise
    health = Health()
    server, in_flight = graph.grpc_server(settings, use, health, metrics.observe_rpc, interceptors)
    grpc_port = listen(server, settings.server.grpc_addr, **_tls(settings))
    await server.start()
    http, http_port = await _serve_http(settings, build_app(health, metrics.render, use.dashboard, use.authenticate,
                                                            use.webhooks))
    runner = _start_loops(settings, use, store, health, PgListener(db.url, notifier))
    await health.set(True)
    log.info("broker serving", extra={"grpc": f"{settings.server.grpc_addr.rsplit(':', 1)[0]}:{grpc_port}",
                                      "http": f"{settings.server.http_addr.rsplit(':', 1)[0]}:{http_port}",
                                      "embedded_db": bool(db.embedded),
                                      "tls": settings.security.tls_cert is not None})
    return Broker(settings, grpc_port, http_port, db.url, health, store, metrics, use.reaper, use.pruner, server,
                  http, runner, notifier, db.pool, db.embedded, in_flight, scheduler=use.scheduler)


async def _declare_schedules(settings: Settings, declare: ApplyDeclared) -> None:
    """BROKER_SCHEDULES_FILE, the desired state of the schedules it declares; a bad file stops
    start-up, naming the entry and field."""
    path = settings.maintenance.schedules_file
    if not path:
        return
    try:
        await declare(schedule_file.read(path))
    except InvalidArgument as exc:
        raise SettingsError(f"{schedule_file.SETTING}={path!r}: {exc}") from None


def _key_store(settings: Settings, db: Database):
    """With BROKER_AUTH on: API keys looked up through a short cache."""
    sec = settings.security
    if not sec.auth:
        return None
    return CachedKeyStore(PgKeyStore(db.pool, settings.database.acquire_timeout), sec.key_cache_ttl)


async def _serve_http(settings: Settings, app: web.Application) -> tuple[web.AppRunner, int]:
    http = web.AppRunner(app, access_log=None)
    await http.setup()
    host, port = settings.server.http_addr.rsplit(":", 1)
    site = web.TCPSite(http, host, int(port), ssl_context=_http_tls(settings))
    await site.start()
    return http, site._server.sockets[0].getsockname()[1]


def _start_loops(settings: Settings, use: graph.UseCases, store: PgJobStore, health: Health,
                 listener: PgListener) -> Runner:
    m, runner = settings.maintenance, Runner()
    runner.start("reaper", Loop("reaper", use.reaper.run_once, m.reaper_interval, lambda n: n >= REAP_BATCH).run())
    runner.start("pruner", Loop("pruner", use.pruner.run_once, m.prune_interval).run())
    runner.start("scheduler", Loop("scheduler", use.scheduler.run_once, m.scheduler_interval,
                                   lambda n: n >= SCHEDULE_BATCH).run())
    runner.start("health", Loop("health", _health_check(store, health), m.health_interval).run())
    runner.start("listener", listener.run())
    return runner


def _pool_usage(pool):
    def usage() -> PoolUsage:
        idle = pool.get_idle_size()
        return PoolUsage(in_use=pool.get_size() - idle, idle=idle, max_size=pool.get_max_size())
    return usage


def _tls(settings: Settings) -> dict[str, bytes | None]:
    sec = settings.security

    def read(path: str | None) -> bytes | None:
        return pathlib.Path(path).read_bytes() if path else None

    return {"cert": read(sec.tls_cert), "key": read(sec.tls_key), "client_ca": read(sec.tls_client_ca)}


def _http_tls(settings: Settings):
    """With TLS configured, the HTTP port is HTTPS with the same certificates (None: plain HTTP)."""
    sec = settings.security
    return tls_context(sec.tls_cert, sec.tls_key, sec.tls_client_ca) if sec.tls_cert else None


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
