"""Settings, read once at start-up from the environment (and command-line overrides) into frozen
sections. A bad value stops start-up with a message naming the variable."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.entities.queue import Limits, QueueConfig
from broker.entities.rate import Rate
from broker.infra.env import Env as _Env
from broker.infra.env import SettingsError
from broker.infra.env import boolean as _bool
from broker.infra.storage_settings import StorageSettings, read_storage
from broker.infra.env import choice as _choice
from broker.infra.limit_settings import read_limits, read_queues
from broker.infra.security_settings import SecuritySettings, read_security as _security
from broker.infra.tracing import read_otel_endpoint
from broker.infra.webhook_settings import WebhookSettings, read_webhooks
from broker.infra.callback_settings import read_callbacks
from broker.infra.worker_settings import WorkerSettings, read_workers
from broker.usecases.callbacks.define import DeliveryPolicy
from broker.usecases.rate_limit import CALL_CLASSES


@dataclass(frozen=True)
class DatabaseSettings:
    url: str | None = None           # None: start the embedded PostgreSQL
    data_dir: str = "~/.local/share/broker"  # the embedded server's files: one place per user
    pool_min: int = 2
    pool_max: int = 10
    acquire_timeout: float = 10.0    # seconds an RPC waits for a free connection
    statement_timeout: float = 30.0  # seconds; 0 disables
    migrate: bool = True             # apply migrations at start-up
    # Group commit (usecases/group_commit.py): concurrent Enqueue calls written together by at
    # most this many writes at once (0: every call writes on its own), each of at most max_jobs.
    group_commit_writers: int = 2
    group_commit_max_jobs: int = 1000
    # Coalesced settlement (usecases/settlement.py): Ack, Nack, Snooze and Heartbeat calls of all
    # workers settled together by at most this many writes at once (0: each on its own).
    settle_writers: int = 2
    settle_max_leases: int = 1000
    # Claim coalescing (usecases/claim_coalesce.py): Lease calls on the same queues share a claim
    # when this many claims of those queues are in flight, each claim for at most max_jobs jobs.
    # 0 (the default): every call claims on its own. Off by default: through the gRPC server on
    # a loaded machine it raised pickup latency (bench/README.md "One claim for many waiting workers").
    claim_claimers: int = 0
    claim_max_jobs: int = 1000


def default_data_dir(e: _Env) -> str:
    """Where the embedded PostgreSQL lives unless BROKER_DATA_DIR says: one place per user
    ($XDG_DATA_HOME/broker, else ~/.local/share/broker), never the current directory, so every
    command finds the same server wherever it is run."""
    base = e.get("XDG_DATA_HOME", None) or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "broker")


def per_core(count: int) -> int:
    """`count` for each processor core of the machine."""
    return count * (os.cpu_count() or 1)


@dataclass(frozen=True)
class ServerSettings:
    grpc_addr: str = "127.0.0.1:50051"
    http_addr: str = "127.0.0.1:8080"
    shutdown_grace: float = 10.0     # seconds in-flight RPCs get after SIGTERM
    reflection: bool = True
    long_poll_recheck: float = 0.5   # seconds between a waiting Lease's own looks for ready jobs
    # Calls worked on at once, long polls apart; beyond: RESOURCE_EXHAUSTED with RetryInfo.
    max_in_flight: int = field(default_factory=lambda: per_core(128))
    max_long_polls: int = field(default_factory=lambda: per_core(512))  # Lease calls with a wait


@dataclass(frozen=True)
class MaintenanceSettings:
    reaper_interval: float = 1.0
    prune_interval: float = 10.0     # also how often the event log's partitions and vacuum are looked at
    retention: float = 24 * 3600.0   # finished (succeeded, cancelled) jobs; dead ones stay until purged
    # Seconds of events per partition of the event log (infra/pg/partitions.py); by default a
    # quarter of the retention, at most an hour: pruned jobs' events leave at most that much later.
    events_partition: float = 3600.0
    health_interval: float = 1.0
    scheduler_interval: float = 1.0  # seconds between the scheduler's looks for due fires
    schedules_file: str | None = None  # TOML: the declared schedules, applied at start-up


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    format: str = "json"             # json or human
    access: bool = True              # one line per RPC (logger broker.access)


@dataclass(frozen=True)
class RateLimitSettings:
    # Per call class (enqueue, lease, settle, admin): a token bucket per principal. Unnamed: unlimited.
    rates: dict[str, Rate] = field(default_factory=dict)


@dataclass(frozen=True)
class ObserveSettings:
    stats_cache: float = 1.0         # seconds the Stats RPC, /metrics and the dashboard reuse one read
    dashboard: bool = True           # serve the dashboard and its /api/ on the HTTP port
    worker_label: bool = True        # broker_worker_leases per worker (ids change on restarts) or per queue
    otel_endpoint: str | None = None  # OTLP/HTTP traces URL of the RPC spans; None: off (infra/tracing.py)


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    log: LogSettings = field(default_factory=LogSettings)
    limits: Limits = field(default_factory=Limits)
    queues: QueueConfig = field(default_factory=QueueConfig)
    observe: ObserveSettings = field(default_factory=ObserveSettings)
    security: SecuritySettings = field(default_factory=SecuritySettings)
    rate_limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    webhooks: WebhookSettings = field(default_factory=WebhookSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    callbacks: DeliveryPolicy = field(default_factory=DeliveryPolicy)  # BROKER_CALLBACK_*
    workers: WorkerSettings = field(default_factory=WorkerSettings)  # the dashboard's workers, health, latency


def load(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from `env` (default: os.environ); `overrides` are dotted names, e.g. server__grpc_addr."""
    e = _Env(os.environ if env is None else env)
    database, server, maintenance = _database(e), _server(e), _maintenance(e)
    log = LogSettings(level=e.get("BROKER_LOG_LEVEL", "INFO", _choice("debug", "info", "warning", "error")),
                      format=e.get("BROKER_LOG_FORMAT", "json", _choice("json", "human")),
                      access=e.get("BROKER_ACCESS_LOG", True, _bool))
    o = ObserveSettings()
    observe = ObserveSettings(stats_cache=e.get("BROKER_STATS_CACHE", o.stats_cache, float),
                              dashboard=e.get("BROKER_DASHBOARD", o.dashboard, _bool),
                              worker_label=e.get("BROKER_METRICS_WORKER_LABEL", o.worker_label, _bool),
                              otel_endpoint=read_otel_endpoint(e))
    limits = read_limits(e)
    settings = Settings(database, server, maintenance, log, limits, read_queues(e, limits), observe=observe,
                        security=_security(e), rate_limits=_rate_limits(e),
                        webhooks=read_webhooks(e, limits, e.env), storage=read_storage(e, limits.max_payload_bytes),
                        callbacks=read_callbacks(e), workers=read_workers(e))
    return _override(settings, overrides)


def _database(e: _Env) -> DatabaseSettings:
    d = DatabaseSettings()
    database = DatabaseSettings(
        url=e.get("DATABASE_URL", None), data_dir=e.get("BROKER_DATA_DIR", None) or default_data_dir(e),
        pool_min=e.get("BROKER_POOL_MIN", d.pool_min, int), pool_max=e.get("BROKER_POOL_MAX", d.pool_max, int),
        acquire_timeout=e.get("BROKER_ACQUIRE_TIMEOUT", d.acquire_timeout, float),
        statement_timeout=e.get("BROKER_STATEMENT_TIMEOUT", d.statement_timeout, float),
        migrate=e.get("BROKER_MIGRATE", d.migrate, _bool),
        group_commit_writers=e.get("BROKER_GROUP_COMMIT_WRITERS", d.group_commit_writers, int),
        group_commit_max_jobs=e.get("BROKER_GROUP_COMMIT_MAX_JOBS", d.group_commit_max_jobs, int),
        settle_writers=e.get("BROKER_SETTLE_WRITERS", d.settle_writers, int),
        settle_max_leases=e.get("BROKER_SETTLE_MAX_LEASES", d.settle_max_leases, int),
        claim_claimers=e.get("BROKER_CLAIM_CLAIMERS", d.claim_claimers, int),
        claim_max_jobs=e.get("BROKER_CLAIM_MAX_JOBS", d.claim_max_jobs, int),
    )
    if database.pool_max < max(database.pool_min, 1):
        raise SettingsError("BROKER_POOL_MAX must be at least 1 and at least BROKER_POOL_MIN")
    for name, value, least in (("BROKER_GROUP_COMMIT_MAX_JOBS", database.group_commit_max_jobs, 1),
                               ("BROKER_SETTLE_MAX_LEASES", database.settle_max_leases, 1),
                               ("BROKER_CLAIM_CLAIMERS", database.claim_claimers, 0),
                               ("BROKER_CLAIM_MAX_JOBS", database.claim_max_jobs, 1)):
        if value < least:
            raise SettingsError(f"{name}={value}: must be at least {least}")
    return database


def _server(e: _Env) -> ServerSettings:
    s = ServerSettings()
    server = ServerSettings(
        grpc_addr=e.get("BROKER_GRPC_ADDR", s.grpc_addr), http_addr=e.get("BROKER_HTTP_ADDR", s.http_addr),
        shutdown_grace=e.get("BROKER_SHUTDOWN_GRACE", s.shutdown_grace, float),
        reflection=e.get("BROKER_REFLECTION", s.reflection, _bool),
        long_poll_recheck=e.get("BROKER_LONG_POLL_RECHECK", s.long_poll_recheck, float),
        max_in_flight=e.get("BROKER_MAX_IN_FLIGHT", s.max_in_flight, int),
        max_long_polls=e.get("BROKER_MAX_LONG_POLLS", s.max_long_polls, int),
    )
    if not server.long_poll_recheck > 0:
        raise SettingsError("BROKER_LONG_POLL_RECHECK must be more than 0 seconds")
    for name, value in (("BROKER_MAX_IN_FLIGHT", server.max_in_flight),
                        ("BROKER_MAX_LONG_POLLS", server.max_long_polls)):
        if value < 1:
            raise SettingsError(f"{name}={value}: must be at least 1")
    return server


def _maintenance(e: _Env) -> MaintenanceSettings:
    m = MaintenanceSettings()
    maintenance = MaintenanceSettings(
        reaper_interval=e.get("BROKER_REAPER_INTERVAL", m.reaper_interval, float),
        prune_interval=e.get("BROKER_PRUNE_INTERVAL", m.prune_interval, float),
        retention=(retention := e.get("BROKER_RETENTION", m.retention, float)),
        events_partition=e.get("BROKER_EVENTS_PARTITION", min(3600.0, max(1.0, retention / 4)), float),
        health_interval=e.get("BROKER_HEALTH_INTERVAL", m.health_interval, float),
        scheduler_interval=e.get("BROKER_SCHEDULER_INTERVAL", m.scheduler_interval, float),
        schedules_file=e.get("BROKER_SCHEDULES_FILE", None),
    )
    if not maintenance.events_partition >= 1:
        raise SettingsError(f"BROKER_EVENTS_PARTITION={maintenance.events_partition:g}: must be at least 1 second")
    if not maintenance.scheduler_interval > 0:
        raise SettingsError("BROKER_SCHEDULER_INTERVAL must be more than 0 seconds")
    return maintenance


def is_loopback(address: str) -> bool:
    """Whether a `host:port` listen address is on the loopback interface only."""
    host = address.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name, or empty (every interface)
        return False


def check_serving(settings: Settings) -> Settings:
    """What only serving needs (`broker serve`; the operator commands skip it). The dashboard API
    takes the admin API key: never in clear across a network by accident."""
    sec, addr = settings.security, settings.server.http_addr
    if (sec.auth and settings.observe.dashboard and sec.tls_cert is None and not sec.http_allow_plaintext
            and not is_loopback(addr)):
        raise SettingsError(
            f"BROKER_HTTP_ADDR={addr!r}: with BROKER_AUTH on, the dashboard API takes the admin API key, "
            "which would cross the network in clear over plain HTTP. Set BROKER_TLS_CERT and BROKER_TLS_KEY "
            "(HTTP is then served as HTTPS), listen on a loopback address, turn the dashboard off "
            "(BROKER_DASHBOARD=false), or set BROKER_HTTP_ALLOW_PLAINTEXT=true (behind a proxy that "
            "terminates TLS)")
    return settings


def _rates(raw: str) -> dict[str, Rate]:
    """`class=rate[/burst]` items separated by commas, e.g. `enqueue=200/400,lease=50`."""
    rates = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = item.partition("=")
        name = name.strip().lower()
        if not sep or name not in CALL_CLASSES:
            raise ValueError(f"{item!r}: expected class=rate[/burst] with a class among {', '.join(CALL_CLASSES)}")
        per_second, _, burst = value.partition("/")
        rate = float(per_second)
        rates[name] = Rate(rate, float(burst) if burst else max(1.0, rate))
    return rates


def _rate_limits(e: _Env) -> RateLimitSettings:
    return RateLimitSettings(e.get("BROKER_RATE_LIMITS", {}, _rates))


def _override(settings: Settings, overrides: Mapping[str, object]) -> Settings:
    from dataclasses import replace

    for dotted, value in overrides.items():
        if value is None:
            continue
        section, name = dotted.split("__", 1)
        settings = replace(settings, **{section: replace(getattr(settings, section), **{name: value})})
    return settings
