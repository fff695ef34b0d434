"""The serve step: opens the database, builds the graph on it (build.build), binds the gRPC and
HTTP ports, starts the background loops, and stops all of it in order."""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import socket
import random
from dataclasses import dataclass, field

import grpc
from aiohttp import web

import broker

from broker.app import build as graph
from broker.app.database import Database, open_database
from broker.app.serve_storage import open_storage, upload_route
from broker.entities.errors import InvalidArgument, Unavailable
from broker.infra import schedule_file
from broker.infra.callback_sender import HttpSender
from broker.infra.clock import SystemClock
from broker.infra.embedded import EmbeddedPostgres
from broker.infra.env import SettingsError
from broker.infra.logs import FanOutSink, LogEventSink
from broker.infra.metrics import BrokerMetrics, PoolUsage
from broker.infra.tracing import Tracing, open_tracing
from broker.infra.pg.callbacks import PgSubscriptionStore
from broker.infra.pg.keys import CachedKeyStore, PgKeyStore
from broker.infra.pg.breakers import BreakerNames, PgBreakerStore
from broker.infra.pg.queues import PgQueueStore
from broker.infra.pg.retry_defaults import PgRetryStore
from broker.infra.pg.schedules import PgScheduleStore
from broker.infra.pg.listen import LocalNotifier, PgListener
from broker.infra.pg.secrets import read_secret
from broker.infra.pg import enqueue_settings
from broker.infra.pg.store import PgJobStore
from broker.infra.pg.webhook_sources import PgWebhookSourceStore
from broker.infra.runner import Loop, Runner
from broker.infra.s3 import S3Storage
from broker.infra.settings import Settings, check_serving
from broker.infra.webhook_log import WebhookEvents
from broker.interface.grpc.interceptors import InFlightStage
from broker.interface.grpc.server import Health, listen
from broker.interface.http.server import build_app, tls_context
from broker.usecases.callbacks.deliver import DeliverCallbacks
from broker.usecases.payloads.collect import CollectPayloads
from broker.usecases.prune import PruneFinished
from broker.usecases.reap import ReapExpired
from broker.usecases.queues.breakers import CoolDownBreakers
from broker.usecases.queues.parts import QueueParts
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
    deliverer: DeliverCallbacks | None = None  # the outbound callbacks' worker
    _sender: HttpSender | None = None
    breakers: CoolDownBreakers | None = None  # the breakers' cool-down pass, likewise
    collector: CollectPayloads | None = None  # the payload collector's pass (with object storage)
    storage: S3Storage | None = None
    tracing: Tracing | None = None  # the OTel SDK of the RPC spans (BROKER_OTEL), else None

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
        if self.deliverer:  # deliveries under way get the grace; the rest lapse and are retried
            await self.deliverer.close(grace)
            await self._sender.close()
        await self._http.cleanup()
        if self.storage is not None:
            self.storage.close()
        if self.tracing:  # the spans still queued go out (bounded by the exporter's timeout)
            await asyncio.to_thread(self.tracing.shutdown)
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
    clock, tracing = clock or SystemClock(), open_tracing(settings.observe.otel_endpoint, broker.__version__)
    db = await open_database(settings)
    await enqueue_settings.publish(db.pool, settings.queues, settings.limits)  # for broker_enqueue (SQL)
    timeout, names = settings.database.acquire_timeout, BreakerNames()  # names: shared by claim and breakers
    store, notifier = PgJobStore(db.pool, timeout, breakers=names,
                                 on_rate_limited=lambda q: metrics.rate_limited(q)), LocalNotifier()
    # Bound late: the metrics read build's overview at scrape time; the store counts rate-limited claims.
    metrics = BrokerMetrics(lambda: use.overview(), _pool_usage(db.pool), lambda: use.admin.queues.list(),
                            settings.observe.worker_label)
    sender, payloads = HttpSender(settings.callbacks.allow_private), await open_storage(settings, db)
    # Every committed state change: one log line, the counters, and a stale overview.
    sinks = (LogEventSink(), metrics)
    use = graph.build(settings, store=store, clock=clock, notifier=notifier, sinks=sinks,
                      page_secret=await read_secret(db.pool, "page_token"), keys=_key_store(settings, db), rng=rng,
                      webhook_log=WebhookEvents(metrics.webhook_received), sender=sender, payloads=payloads,
                      listeners=graph.Listeners(fire=metrics, delivery=metrics, write=metrics, payload=metrics),
                      worker_id=f"{socket.gethostname()}:{os.getpid()}", **_stores(settings, db, names, FanOutSink(*sinks).record, store))
    await _declare_or_close(settings, use, db)
    health = Health()
    server, in_flight = graph.grpc_server(settings, use, health, metrics.observe_rpc, interceptors, tracing)
    grpc_port = listen(server, settings.server.grpc_addr, **_tls(settings))
    await server.start()
    http, http_port = await _serve_http(settings, build_app(health, metrics.render, use.dashboard, use.authenticate,
                                                            use.webhooks, upload_route(settings, use)))
    runner = _start_loops(settings, use, store, health, PgListener(db.url, notifier))
    await health.set(True)
    _log_serving(settings, grpc_port, http_port, db)
    return Broker(settings, grpc_port, http_port, db.url, health, store, metrics, use.reaper, use.pruner, server, http,
                  runner, notifier, db.pool, db.embedded, in_flight, scheduler=use.scheduler, deliverer=use.deliverer,
                  _sender=sender, breakers=use.breakers, collector=use.collector, storage=payloads.storage,
                  tracing=tracing)


def _log_serving(settings: Settings, grpc_port: int, http_port: int, db: Database) -> None:
    """The start-up line a person reads: where to connect, and the dashboard's URL."""
    grpc_at = f"{settings.server.grpc_addr.rsplit(':', 1)[0]}:{grpc_port}"
    http_at = f"{settings.server.http_addr.rsplit(':', 1)[0]}:{http_port}"
    url = dashboard_url(settings, http_port) if settings.observe.dashboard else None
    log.info("broker %s serving gRPC on %s%s", broker.__version__, grpc_at,
             f", dashboard at {url}" if url else "",
             extra={"grpc": grpc_at, "http": http_at, "dashboard": url, "embedded_db": bool(db.embedded),
                    "data_dir": str(db.embedded.data_dir) if db.embedded else None,
                    "tls": settings.security.tls_cert is not None, "version": broker.__version__})


def dashboard_url(settings: Settings, http_port: int) -> str:
    """The dashboard's URL as a browser on this machine reaches it (a wildcard address: loopback)."""
    host = settings.server.http_addr.rsplit(":", 1)[0]
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]", "::": "[::1]"}.get(host, host)
    scheme = "https" if settings.security.tls_cert else "http"
    return f"{scheme}://{host}:{http_port}/"


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


async def _declare_or_close(settings: Settings, use: graph.UseCases, db: Database) -> None:
    """The schedules file applied; a bad one closes the database again (nothing else was started)."""
    try:
        await _declare_schedules(settings, use.declare_schedules)
    except BaseException:
        await db.pool.close()
        if db.embedded:
            db.embedded.stop()
        raise


def _stores(settings: Settings, db: Database, names: BreakerNames, record, jobs: PgJobStore) -> dict:
    """The stores of schedules, queue controls (with the queues' breakers, their names shared
    with the job store's claim, the deliveries of their openings told to `record`, and retry
    policies), callback subscriptions and webhook sources. The queue store tells the job store
    of each change of controls (it re-reads its counted list)."""
    timeout = settings.database.acquire_timeout
    return {"schedules": PgScheduleStore(db.pool, timeout),
            "queues": PgQueueStore(db.pool, timeout, jobs.controls_changed),
            "subscriptions": PgSubscriptionStore(db.pool, timeout),
            "webhook_sources": PgWebhookSourceStore(db.pool, timeout),
            "parts": QueueParts(PgBreakerStore(db.pool, names, timeout, record),
                                PgRetryStore(db.pool, timeout, queues=settings.queues))}


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
    runner.start("pruner", Loop("pruner", use.pruner.run_once, m.prune_interval, use.pruner.full).run())
    # The breakers' cool-down ends within a reaper interval of its time.
    runner.start("breakers", Loop("breakers", use.breakers.run_once, m.reaper_interval).run())
    runner.start("scheduler", Loop("scheduler", use.scheduler.run_once, m.scheduler_interval,
                                   lambda n: n >= SCHEDULE_BATCH).run())
    if use.collector is not None:
        runner.start("payloads", Loop("payloads", use.collector.run_once, m.prune_interval, lambda n: n >= 500).run())
    if settings.callbacks.deliver:
        recheck = settings.server.long_poll_recheck  # the deliveries' own wait, woken by new ones
        runner.start("callbacks", Loop("callbacks", lambda: use.deliverer.run_once(wait=recheck), recheck,
                                       lambda _: True).run())
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
