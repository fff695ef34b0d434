"""The broker's gauges, read at scrape time: the overview's (jobs by state, oldest ready age,
workers and their leases), the queues' controls and breakers, and this process's pool."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily

from broker.entities.breaker import BreakerState
from broker.entities.queue_state import QueueControls
from broker.usecases.overview import Overview

STATES = ("ready", "scheduled", "retrying", "running", "succeeded", "dead", "cancelled")


@dataclass(frozen=True, slots=True)
class PoolUsage:
    in_use: int
    idle: int
    max_size: int


class _GaugeCollector:
    """Gauges from the last overview read; only queues and workers that exist now appear."""

    def __init__(self, pool_usage: Callable[[], PoolUsage] | None, worker_label: bool = True) -> None:
        self.view: Overview | None = None
        self._worker_label = worker_label
        self.queues: Sequence[QueueControls] = ()  # the configured queues' controls
        self._pool_usage = pool_usage

    def collect(self):
        up = GaugeMetricFamily("broker_database_up", "Whether the last scrape could read the database.")
        up.add_metric([], 1 if self.view else 0)
        yield up
        if self.view is not None:
            yield from _view_gauges(self.view, self._worker_label)
            yield from _queue_gauges(self.queues, {q.queue: q.running for q in self.view.queues})
        if self._pool_usage is not None:
            yield from _pool_gauges(self._pool_usage())


def _view_gauges(view: Overview, worker_label: bool):
    jobs = GaugeMetricFamily("broker_jobs", "Jobs by queue and state (ready, scheduled and retrying "
                             "are pending jobs), database-wide.", labels=["queue", "state"])
    oldest = GaugeMetricFamily("broker_oldest_ready_job_age_seconds",
                               "Age of the oldest ready job per queue (0 when none is ready).",
                               labels=["queue"])
    for q in view.queues:
        for state in STATES:
            jobs.add_metric([q.queue, state], getattr(q, state))
        oldest.add_metric([q.queue], q.oldest_ready_age)
    workers = GaugeMetricFamily("broker_workers", "Workers holding at least one lease, per queue.",
                                labels=["queue"])
    per_queue: dict[str, int] = {}
    for w in view.workers:
        per_queue[w.queue] = per_queue.get(w.queue, 0) + 1
    for queue, count in sorted(per_queue.items()):
        workers.add_metric([queue], count)
    return [jobs, oldest, _lease_gauge(view, worker_label), workers]


def _lease_gauge(view: Overview, worker_label: bool) -> GaugeMetricFamily:
    if worker_label:
        leases = GaugeMetricFamily("broker_worker_leases", "Running leases held, per worker and queue.",
                                   labels=["worker", "queue"])
        for w in view.workers:
            leases.add_metric([w.worker_id or "", w.queue], w.leases)
        return leases
    leases = GaugeMetricFamily("broker_worker_leases", "Running leases held, per queue (the worker label "
                               "is off: BROKER_METRICS_WORKER_LABEL).", labels=["queue"])
    per_queue: dict[str, int] = {}
    for w in view.workers:
        per_queue[w.queue] = per_queue.get(w.queue, 0) + w.leases
    for queue, count in sorted(per_queue.items()):
        leases.add_metric([queue], count)
    return leases


def _queue_gauges(queues: Sequence[QueueControls], running: dict[str, int]):
    paused = GaugeMetricFamily("broker_queue_paused", "1 for a paused queue (Lease hands out none of its "
                               "jobs), 0 otherwise; configured queues only.", labels=["queue"])
    limit = GaugeMetricFamily("broker_queue_concurrency_limit", "A queue's limit on RUNNING jobs across "
                              "all replicas; queues with a limit only.", labels=["queue"])
    in_use = GaugeMetricFamily("broker_queue_concurrency_in_use", "RUNNING jobs of a queue with a "
                               "concurrency limit or a per-key limit (what the limit counts).", labels=["queue"])
    per_key = GaugeMetricFamily("broker_queue_per_key_concurrency", "A queue's limit on RUNNING jobs per "
                                "concurrency key; queues with such a limit only.", labels=["queue"])
    rate = GaugeMetricFamily("broker_queue_rate_limit", "A queue's rate limit in jobs leased per second, "
                             "shared by all replicas; rate-limited queues only.", labels=["queue"])
    burst = GaugeMetricFamily("broker_queue_rate_burst", "A rate-limited queue's burst (its token "
                              "bucket's size).", labels=["queue"])
    breaker = GaugeMetricFamily("broker_queue_breaker_state", "1 for the state a queue's circuit breaker is in "
                                "(closed, open, half_open), 0 for the others; queues with a breaker only.",
                                labels=["queue", "state"])
    for q in queues:
        paused.add_metric([q.name], 1 if q.paused else 0)
        if q.concurrency_limit is not None:
            limit.add_metric([q.name], q.concurrency_limit)
        if q.concurrency_limit is not None or q.per_key_concurrency is not None:
            in_use.add_metric([q.name], running.get(q.name, 0))
        if q.per_key_concurrency is not None:
            per_key.add_metric([q.name], q.per_key_concurrency)
        if q.rate_limit is not None:
            rate.add_metric([q.name], q.rate_limit)
            burst.add_metric([q.name], q.rate_burst)
        if q.breaker is not None:
            for state in BreakerState:
                breaker.add_metric([q.name, state.value], 1 if q.breaker.state is state else 0)
    return [paused, limit, in_use, per_key, rate, burst, breaker]


def _pool_gauges(usage: PoolUsage):
    pool = GaugeMetricFamily("broker_db_pool_connections", "This process's database connections.",
                             labels=["state"])
    pool.add_metric(["in_use"], usage.in_use)
    pool.add_metric(["idle"], usage.idle)
    size = GaugeMetricFamily("broker_db_pool_max_connections", "This process's pool size limit.")
    size.add_metric([], usage.max_size)
    return [pool, size]
