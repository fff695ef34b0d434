"""The dashboard's workers, health flags and latency settings (BROKER_WORKER_*, BROKER_HEALTH_*,
BROKER_OBSERVE_FLUSH_INTERVAL)."""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.entities.health import HealthThresholds
from broker.infra.env import Env, SettingsError


@dataclass(frozen=True)
class WorkerSettings:
    health: HealthThresholds = field(default_factory=HealthThresholds)  # seen_seconds among them
    # Seconds between a replica's writes of the workers it saw and the latency counts it made.
    flush_interval: float = 2.0

    @property
    def waiting_seconds(self) -> float:
        """A replica rewrites an open poll at every flush: older than three flushes, its replica
        stopped."""
        return 3 * self.flush_interval


def read_workers(e: Env) -> WorkerSettings:
    d, h = WorkerSettings(), HealthThresholds()
    health = HealthThresholds(
        oldest_ready=e.get("BROKER_HEALTH_OLDEST_READY_SECONDS", h.oldest_ready, float),
        failure_rate=e.get("BROKER_HEALTH_FAILURE_RATE", h.failure_rate, float),
        min_attempts=e.get("BROKER_HEALTH_MIN_ATTEMPTS", h.min_attempts, int),
        seen_seconds=e.get("BROKER_WORKER_SEEN_SECONDS", h.seen_seconds, float))
    flush = e.get("BROKER_OBSERVE_FLUSH_INTERVAL", d.flush_interval, float)
    if not health.failure_rate <= 1:
        raise SettingsError(f"BROKER_HEALTH_FAILURE_RATE={health.failure_rate:g}: must be 0 to 1")
    if not 0 < flush <= 60:
        raise SettingsError(f"BROKER_OBSERVE_FLUSH_INTERVAL={flush:g}: must be more than 0 and at most 60 seconds")
    if not health.seen_seconds > flush:
        raise SettingsError(f"BROKER_WORKER_SEEN_SECONDS={health.seen_seconds:g}: must be more than "
                            f"BROKER_OBSERVE_FLUSH_INTERVAL ({flush:g})")
    return WorkerSettings(health, flush)
