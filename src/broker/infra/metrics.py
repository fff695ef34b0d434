"""Prometheus metrics; the one module that imports prometheus_client.

Counters and histograms are fed by the event sink (every committed state change) and by the RPC
interceptor; they count what this process did, so with several replicas Prometheus sums them.
Gauges are read at scrape time from the shared overview (the same read as the Stats RPC and the
dashboard) and describe the whole database, so every replica reports the same values: aggregate
them with max, not sum. The pool gauges describe this process's own pool.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from prometheus_client import (CollectorRegistry, Counter, Histogram, Info, PlatformCollector,
                               ProcessCollector, generate_latest)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

import broker
from broker.entities.errors import BrokerError
from broker.entities.job import Event, JobState, Reason
from broker.entities.queue_state import QueueControls
from broker.infra.metrics_gauges import PoolUsage, _GaugeCollector  # PoolUsage: for the pool's reader
from broker.usecases.overview import Overview

log = logging.getLogger("broker.metrics")

# Jobs wait and run from milliseconds to an hour (leases may last 12 h; the top bucket is +Inf).
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
               1200, 1800, 3600)
# RPCs take milliseconds, long-poll leases up to a minute.
RPC_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
# A fire is enqueued within the scheduler's interval (1 s) when all is well; after downtime,
# caught-up fires are hours late.
LAG_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, 3600, 6 * 3600, 86400)
GROUP_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def _coalescing(registry: CollectorRegistry) -> tuple[Histogram, Histogram, Histogram]:
    """How many calls each write to the database carried (group commit, coalesced settlement),
    and how many Lease calls each claim served (claim coalescing)."""
    return (Histogram("broker_enqueue_write_calls", "Enqueue and EnqueueBatch calls carried by each write to "
                      "the database (group commit; 1: a call written alone).",
                      buckets=GROUP_BUCKETS, registry=registry),
            Histogram("broker_settle_write_calls", "Ack, Nack, Snooze and Heartbeat calls carried by each "
                      "write to the database (coalesced settlement; 1: a call written alone).",
                      ["call"], buckets=GROUP_BUCKETS, registry=registry),
            Histogram("broker_claim_calls", "Lease calls served by each claim of the database (claim "
                      "coalescing: long polls on the same queues share a claim; 1: a call claimed alone). "
                      "_count: claims made; _sum: Lease calls (and long-poll re-checks) they served.",
                      buckets=GROUP_BUCKETS, registry=registry))


class BrokerMetrics:
    """The broker's metrics in a registry of their own (several brokers may share a process),
    with the process's own (CPU, memory, descriptors: `process_*`; `python_info`) and
    `broker_build_info`. `worker_label` False drops the worker label from the per-worker gauge
    (worker ids change on every restart: one series each)."""

    def __init__(self, overview: Callable[[], Awaitable[Overview]],
                 pool_usage: Callable[[], PoolUsage] | None = None,
                 queues: Callable[[], Awaitable[Sequence[QueueControls]]] | None = None,
                 worker_label: bool = True) -> None:
        self.registry = CollectorRegistry()
        self._overview, self._queues = overview, queues
        self._gauges = _GaugeCollector(pool_usage, worker_label)
        _process_metrics(self.registry)
        self._counters = _counters(self.registry)
        self.wait = Histogram("broker_job_wait_seconds", "Time a job waited from ready to leased.",
                              ["queue"], buckets=JOB_BUCKETS, registry=self.registry)
        self.run = Histogram("broker_job_run_seconds",
                             "Time an attempt ran from lease to ack, nack or lease expiry.",
                             ["queue", "outcome"], buckets=JOB_BUCKETS, registry=self.registry)
        self.rpc = Histogram("broker_rpc_duration_seconds", "gRPC calls served, by method and status code.",
                             ["method", "code"], buckets=RPC_BUCKETS, registry=self.registry)
        self.webhooks = Counter("broker_webhooks_received", "Inbound webhook deliveries by source and "
                                "outcome (created, duplicate, or why it was refused; source _unknown: "
                                "no such source).", ["source", "outcome"], registry=self.registry)
        self.payloads = Counter("broker_payload_objects", "Payload objects in object storage by event: "
                                "created (CreateUpload), streamed, offloaded (by Enqueue), deleted.",
                                ["event"], registry=self.registry)
        self.fire_lag = Histogram("broker_schedule_fire_lag_seconds",
                                  "Time from a schedule's fire time to the enqueue of its job (each fire "
                                  "counted once, by the replica that created the job).",
                                  ["schedule"], buckets=LAG_BUCKETS, registry=self.registry)
        self.rate_limited_claims = Counter(
            "broker_claims_rate_limited", "Claims (Lease calls, and each re-check of a long poll) that a "
            "queue's rate limit gave fewer jobs than they asked for, counted by this replica.",
            ["queue"], registry=self.registry)
        self.callbacks = Counter("broker_callback_deliveries", "Outbound callback delivery attempts by "
                                 "subscription and outcome (delivered: a 2xx; failed: another answer, a timeout "
                                 "or no connection; refused: the target's address, or no such subscription).",
                                 ["subscription", "outcome"], registry=self.registry)
        self.enqueue_writes, self.settle_writes, self.claims = _coalescing(self.registry)
        self.registry.register(self._gauges)
        self._children: dict[tuple[int, tuple[str, ...]], object] = {}

    def record(self, events: Sequence[Event]) -> None:
        """EventSink: count each state change once, and time it where the store could. Counters
        move once per batch and label; labelled children are looked up once per label set."""
        counts: dict[tuple[str, tuple[str, ...]], int] = {}
        child, wait, run = self._child, self.wait, self.run
        for e in events:
            simple = _SIMPLE.get(e.reason)
            if simple is not None:  # the hot path: one counter labelled by queue
                key = (simple, (e.queue,))
                counts[key] = counts.get(key, 0) + 1
            else:
                for key in _counts(e):
                    counts[key] = counts.get(key, 0) + 1
            if e.waited is not None:
                child(wait, (e.queue,)).observe(e.waited)
            if e.ran is not None and e.reason in _RUN_OUTCOME:
                child(run, (e.queue, _RUN_OUTCOME[e.reason])).observe(e.ran)
        for (name, labels), n in counts.items():
            child(self._counters[name], labels).inc(n)

    def fired(self, schedule: str, lag_seconds: float) -> None:
        """FireListener: one job a schedule's fire created."""
        self._child(self.fire_lag, (schedule,)).observe(max(0.0, lag_seconds))

    def rate_limited(self, queue: str) -> None:
        """For the job store: a claim the queue's token bucket held back."""
        self._child(self.rate_limited_claims, (queue,)).inc()

    def attempted(self, subscription: str, outcome: str) -> None:
        """DeliveryListener: one callback delivery attempt."""
        self._child(self.callbacks, (subscription, outcome)).inc()

    def enqueue_written(self, calls: int) -> None:
        """WriteListener (group commit): one write to the database and the calls it carried."""
        self.enqueue_writes.observe(calls)

    def settle_written(self, call: str, calls: int) -> None:
        """SettleListener: one settling write to the database and the calls it carried."""
        self._child(self.settle_writes, (call,)).observe(calls)

    def claimed(self, calls: int) -> None:
        """ClaimListener (claim coalescing): one claim of the database and the calls it served."""
        self.claims.observe(calls)

    def observe_rpc(self, method: str, code: str, seconds: float) -> None:
        """For the metrics interceptor: one served RPC."""
        self._child(self.rpc, (method, code)).observe(seconds)

    def webhook_received(self, source: str, outcome: str) -> None:
        """For the webhook log: one delivery's outcome."""
        self._child(self.webhooks, (source, outcome)).inc()

    def objects(self, event: str, count: int) -> None:
        """PayloadEvents: objects made or deleted."""
        self._child(self.payloads, (event,)).inc(count)

    def _child(self, metric, labels: tuple[str, ...]):
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    async def render(self) -> tuple[bytes, str]:
        """The exposition (body, content type), gauges freshly read from the overview."""
        try:
            self._gauges.view = await self._overview()
            self._gauges.queues = await self._queues() if self._queues is not None else ()
        except BrokerError as exc:  # the database is away: still expose counters, and say so
            log.warning("metrics: cannot read the database: %s", exc)
            self._gauges.view, self._gauges.queues = None, ()
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def _process_metrics(registry: CollectorRegistry) -> None:
    """process_* (from /proc; nothing where there is none), python_info, and broker_build_info."""
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    build = Info("broker_build", "The running broker's version (value 1).", registry=registry)
    build.info({"version": broker.__version__})


_COUNTERS = {
    "enqueued": ("broker_jobs_enqueued", "Jobs enqueued.", ["queue"]),
    "leased": ("broker_jobs_leased", "Jobs leased to workers (each attempt).", ["queue"]),
    "succeeded": ("broker_jobs_succeeded", "Attempts acked: jobs done.", ["queue"]),
    "failed": ("broker_jobs_failed", "Attempts nacked by workers; outcome says retried or dead.",
               ["queue", "outcome"]),
    "expired": ("broker_lease_expirations", "Leases that lapsed (a worker crashed or hung), counted "
                "apart from nacks; outcome says retried or dead.", ["queue", "outcome"]),
    "dead": ("broker_jobs_dead_lettered", "Jobs moved to the dead letter queue (nack or expiry).",
             ["queue"]),
    "redriven": ("broker_jobs_redriven", "Dead jobs redriven back to pending.", ["queue"]),
    "cancelled": ("broker_jobs_cancelled", "Jobs cancelled.", ["queue"]),
    "snoozed": ("broker_jobs_snoozed", "Leased jobs their workers handed back for later (Snooze; no "
                "attempt used).", ["queue"]),
    "retried_now": ("broker_jobs_retried_now", "Delayed jobs and waiting retries an operator made ready at "
                    "once (retry now; a dead job retried counts as redriven).", ["queue"]),
    "released": ("broker_jobs_released", "Jobs a coalesced claim leased for a Lease call that was gone "
                 "(cancelled, past its deadline) before it got them, handed back at once (no attempt "
                 "used).", ["queue"]),
}
_RUN_OUTCOME = {Reason.ACK: "succeeded", Reason.NACK: "failed", Reason.EXPIRE: "expired"}
_SIMPLE = {Reason.ENQUEUE: "enqueued", Reason.LEASE: "leased", Reason.ACK: "succeeded",
           Reason.REDRIVE: "redriven", Reason.CANCEL: "cancelled", Reason.SNOOZE: "snoozed",
           Reason.RETRY_NOW: "retried_now", Reason.RELEASE: "released"}


def _counters(registry: CollectorRegistry) -> dict[str, Counter]:
    return {key: Counter(name, doc, labels, registry=registry)
            for key, (name, doc, labels) in _COUNTERS.items()}


def _counts(e: Event) -> list[tuple[str, tuple[str, ...]]]:
    """The counters one event increments, with their label values."""
    if e.reason in _SIMPLE:
        return [(_SIMPLE[e.reason], (e.queue,))]
    if e.reason is Reason.PROGRESS:  # no change of state: counted by no counter
        return []
    dead = e.to_state is JobState.DEAD
    counted = [("failed" if e.reason is Reason.NACK else "expired", (e.queue, "dead" if dead else "retried"))]
    return counted + [("dead", (e.queue,))] if dead else counted
