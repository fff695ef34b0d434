"""Settings, read once at start-up from the environment (and command-line overrides) into frozen
sections. A bad value stops start-up with a message naming the variable."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.entities.errors import InvalidArgument
from broker.entities.queue import Limits, QueueConfig, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy


class SettingsError(ValueError):
    """A setting has a value the broker cannot use."""


@dataclass(frozen=True)
class DatabaseSettings:
    url: str | None = None           # None: start the embedded PostgreSQL
    data_dir: str = ".broker-data"   # where the embedded server keeps its files
    pool_min: int = 2
    pool_max: int = 10
    acquire_timeout: float = 10.0    # seconds an RPC waits for a free connection
    statement_timeout: float = 30.0  # seconds; 0 disables
    migrate: bool = True             # apply migrations at start-up


@dataclass(frozen=True)
class ServerSettings:
    grpc_addr: str = "127.0.0.1:50051"
    http_addr: str = "127.0.0.1:8080"
    shutdown_grace: float = 10.0     # seconds in-flight RPCs get after SIGTERM
    reflection: bool = True


@dataclass(frozen=True)
class MaintenanceSettings:
    reaper_interval: float = 1.0
    prune_interval: float = 60.0
    retention: float = 24 * 3600.0   # finished (succeeded, cancelled) jobs; dead ones stay until purged
    health_interval: float = 1.0


@dataclass(frozen=True)
class LogSettings:
    level: str = "INFO"
    format: str = "json"             # json or human


@dataclass(frozen=True)
class ObserveSettings:
    stats_cache: float = 1.0         # seconds the Stats RPC, /metrics and the dashboard reuse one read
    dashboard: bool = True           # serve the dashboard and its /api/ on the HTTP port


@dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    maintenance: MaintenanceSettings = field(default_factory=MaintenanceSettings)
    log: LogSettings = field(default_factory=LogSettings)
    limits: Limits = field(default_factory=Limits)
    queues: QueueConfig = field(default_factory=QueueConfig)
    observe: ObserveSettings = field(default_factory=ObserveSettings)


class _Env:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def get(self, name: str, default, cast=str):
        raw = self.env.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = cast(raw)
        except (ValueError, TypeError) as exc:
            raise SettingsError(f"{name}={raw!r}: {exc}") from None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise SettingsError(f"{name}={raw!r}: must not be negative")
        return value


def _bool(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _choice(*options: str):
    def cast(raw: str) -> str:
        if raw.lower() not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return raw.lower()
    return cast


def load(env: Mapping[str, str] | None = None, **overrides) -> Settings:
    """Settings from `env` (default: os.environ); `overrides` are dotted names, e.g. server__grpc_addr."""
    e = _Env(os.environ if env is None else env)
    d = DatabaseSettings()
    database = DatabaseSettings(
        url=e.get("DATABASE_URL", None), data_dir=e.get("BROKER_DATA_DIR", d.data_dir),
        pool_min=e.get("BROKER_POOL_MIN", d.pool_min, int), pool_max=e.get("BROKER_POOL_MAX", d.pool_max, int),
        acquire_timeout=e.get("BROKER_ACQUIRE_TIMEOUT", d.acquire_timeout, float),
        statement_timeout=e.get("BROKER_STATEMENT_TIMEOUT", d.statement_timeout, float),
        migrate=e.get("BROKER_MIGRATE", d.migrate, _bool),
    )
    if database.pool_max < max(database.pool_min, 1):
        raise SettingsError("BROKER_POOL_MAX must be at least 1 and at least BROKER_POOL_MIN")
    s = ServerSettings()
    server = ServerSettings(
        grpc_addr=e.get("BROKER_GRPC_ADDR", s.grpc_addr), http_addr=e.get("BROKER_HTTP_ADDR", s.http_addr),
        shutdown_grace=e.get("BROKER_SHUTDOWN_GRACE", s.shutdown_grace, float),
        reflection=e.get("BROKER_REFLECTION", s.reflection, _bool),
    )
    m = MaintenanceSettings()
    maintenance = MaintenanceSettings(
        reaper_interval=e.get("BROKER_REAPER_INTERVAL", m.reaper_interval, float),
        prune_interval=e.get("BROKER_PRUNE_INTERVAL", m.prune_interval, float),
        retention=e.get("BROKER_RETENTION", m.retention, float),
        health_interval=e.get("BROKER_HEALTH_INTERVAL", m.health_interval, float),
    )
    log = LogSettings(level=e.get("BROKER_LOG_LEVEL", "INFO", _choice("debug", "info", "warning", "error")),
                      format=e.get("BROKER_LOG_FORMAT", "json", _choice("json", "human")))
    o = ObserveSettings()
    observe = ObserveSettings(stats_cache=e.get("BROKER_STATS_CACHE", o.stats_cache, float),
                              dashboard=e.get("BROKER_DASHBOARD", o.dashboard, _bool))
    settings = Settings(database, server, maintenance, log, _limits(e), _queues(e), observe=observe)
    return _override(settings, overrides)


def _limits(e: _Env) -> Limits:
    d = Limits()
    limits = Limits(
        max_payload_bytes=e.get("BROKER_MAX_PAYLOAD_BYTES", d.max_payload_bytes, int),
        max_batch=e.get("BROKER_MAX_BATCH", d.max_batch, int),
        min_lease=e.get("BROKER_MIN_LEASE", d.min_lease, float),
        max_lease=e.get("BROKER_MAX_LEASE", d.max_lease, float),
        max_attempts=e.get("BROKER_MAX_ATTEMPTS_LIMIT", d.max_attempts, int),
        max_wait=e.get("BROKER_MAX_WAIT", d.max_wait, float),
    )
    if limits.max_batch < 1 or limits.max_lease < limits.min_lease:
        raise SettingsError("BROKER_MAX_BATCH must be >= 1 and BROKER_MAX_LEASE >= BROKER_MIN_LEASE")
    return limits


def _queue_defaults(raw: Mapping, base: QueueDefaults, where: str) -> QueueDefaults:
    known = {"max_attempts", "lease_duration", "retry_initial", "retry_max", "retry_multiplier", "retry_jitter"}
    unknown = set(raw) - known
    if unknown:
        raise SettingsError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        retry = RetryPolicy(
            float(raw.get("retry_initial", base.retry.initial_delay)),
            float(raw.get("retry_max", base.retry.max_delay)),
            float(raw.get("retry_multiplier", base.retry.multiplier)),
            Jitter(raw.get("retry_jitter", base.retry.jitter.value)),
        )
        return QueueDefaults(int(raw.get("max_attempts", base.max_attempts)), retry,
                             float(raw.get("lease_duration", base.lease_duration)))
    except (InvalidArgument, ValueError) as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _queues(e: _Env) -> QueueConfig:
    flat = {k: v for k, v in {
        "max_attempts": e.env.get("BROKER_DEFAULT_MAX_ATTEMPTS"),
        "lease_duration": e.env.get("BROKER_DEFAULT_LEASE"),
        "retry_initial": e.env.get("BROKER_RETRY_INITIAL"),
        "retry_max": e.env.get("BROKER_RETRY_MAX"),
        "retry_multiplier": e.env.get("BROKER_RETRY_MULTIPLIER"),
        "retry_jitter": e.env.get("BROKER_RETRY_JITTER"),
    }.items() if v}
    default = _queue_defaults(flat, QueueDefaults(), "BROKER_DEFAULT_*/BROKER_RETRY_*")
    try:
        per_queue = json.loads(e.env.get("BROKER_QUEUES") or "{}")
        assert isinstance(per_queue, dict)
    except (ValueError, AssertionError):
        raise SettingsError('BROKER_QUEUES: expected a JSON object like {"emails": {"max_attempts": 5}}') from None
    overrides = {name: _queue_defaults(raw, default, f"BROKER_QUEUES[{name!r}]") for name, raw in per_queue.items()}
    return QueueConfig(default, overrides)


def _override(settings: Settings, overrides: Mapping[str, object]) -> Settings:
    from dataclasses import replace

    for dotted, value in overrides.items():
        if value is None:
            continue
        section, name = dotted.split("__", 1)
        settings = replace(settings, **{section: replace(getattr(settings, section), **{name: value})})
    return settings
