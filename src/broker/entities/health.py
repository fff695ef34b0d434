"""A queue's health as the dashboard flags it: each problem a code and a sentence, from the
queue's stats, its controls, its breaker and the workers seen for it. Empty: healthy."""

from __future__ import annotations

from dataclasses import dataclass

from broker.entities.breaker import BreakerState
from broker.entities.queue_state import QueueControls
from broker.entities.stats import QueueStats

NO_WORKERS, OLDEST_READY, FAILURE_RATE = "no_workers", "oldest_ready", "failure_rate"
BREAKER_OPEN, PAUSED = "breaker_open", "paused"
CODES = (NO_WORKERS, OLDEST_READY, FAILURE_RATE, BREAKER_OPEN, PAUSED)


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """When a queue is flagged (BROKER_HEALTH_*)."""

    oldest_ready: float = 300.0   # seconds the oldest ready job may wait
    failure_rate: float = 0.25    # failed share of the last hour's attempts...
    min_attempts: int = 20        # ...once the hour had at least this many
    seen_seconds: float = 60.0    # a worker counts for a queue this long after it asked (BROKER_WORKER_SEEN_SECONDS)


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str


def problems(q: QueueStats, controls: QueueControls | None, workers: int,
             t: HealthThresholds = HealthThresholds()) -> list[Problem]:
    """What is wrong with queue `q`, given `workers` seen for it, in the order of CODES."""
    found = []
    if q.ready > 0 and workers == 0:
        found.append(Problem(NO_WORKERS, f"{q.ready} ready job{'s' if q.ready != 1 else ''} and no worker "
                                         f"asked for this queue in the last {t.seen_seconds:g} s"))
    if q.ready > 0 and q.oldest_ready_age > t.oldest_ready:
        found.append(Problem(OLDEST_READY, f"the oldest ready job has waited {q.oldest_ready_age:.0f} s "
                                           f"(over {t.oldest_ready:g} s)"))
    hour = q.last_hour
    attempts = hour.succeeded + hour.failed
    if attempts >= t.min_attempts and hour.failure_rate > t.failure_rate:
        found.append(Problem(FAILURE_RATE, f"{hour.failure_rate:.0%} of the last hour's {attempts} attempts "
                                           f"failed (over {t.failure_rate:.0%})"))
    if q.breaker == BreakerState.OPEN.value:
        found.append(Problem(BREAKER_OPEN, "the circuit breaker is open: no job is leased until it half-opens"))
    if controls is not None and controls.paused:
        found.append(Problem(PAUSED, "the queue is paused: no job is leased until it is resumed"))
    return found
