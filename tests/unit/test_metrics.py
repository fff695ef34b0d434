"""The metrics adapter: which counters each state change moves, and the gauges from one read."""

from __future__ import annotations

from datetime import datetime, timezone

from prometheus_client.parser import text_string_to_metric_families

from broker.entities.errors import Unavailable
from broker.entities.job import Event, JobState, Reason
from broker.entities.stats import QueueStats, WorkerLeases
from broker.infra.metrics import BrokerMetrics, PoolUsage
from broker.usecases.overview import Overview

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
P, R, S, D, C = JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED


def ev(reason, from_state, to_state, **kw) -> Event:
    return Event("j", "q", from_state, to_state, reason, 1, NOW, **kw)


async def _samples(metrics: BrokerMetrics) -> dict:
    body, content_type = await metrics.render()
    assert content_type.startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(body.decode()) for s in f.samples}


def _view() -> Overview:
    return Overview(NOW, (QueueStats("q", ready=3, dead=2, oldest_ready_age=42.0),),
                    (WorkerLeases("w1", "q", 4, NOW), WorkerLeases("w2", "q", 1, NOW)))


async def test_each_reason_moves_its_counters():
    async def overview():
        return _view()

    metrics = BrokerMetrics(overview)
    metrics.record([
        ev(Reason.ENQUEUE, None, P), ev(Reason.LEASE, P, R, waited=0.5), ev(Reason.ACK, R, S, ran=2.0),
        ev(Reason.NACK, R, P, ran=1.0), ev(Reason.NACK, R, D, ran=1.0), ev(Reason.EXPIRE, R, P, ran=30.0),
        ev(Reason.EXPIRE, R, D, ran=30.0), ev(Reason.REDRIVE, D, P), ev(Reason.CANCEL, P, C),
    ])
    s = await _samples(metrics)
    q = (("queue", "q"),)
    assert s[("broker_jobs_enqueued_total", q)] == 1
    assert s[("broker_jobs_leased_total", q)] == 1
    assert s[("broker_jobs_succeeded_total", q)] == 1
    assert s[("broker_jobs_failed_total", (("outcome", "dead"), ("queue", "q")))] == 1
    assert s[("broker_jobs_failed_total", (("outcome", "retried"), ("queue", "q")))] == 1
    assert s[("broker_lease_expirations_total", (("outcome", "dead"), ("queue", "q")))] == 1
    assert s[("broker_lease_expirations_total", (("outcome", "retried"), ("queue", "q")))] == 1
    assert s[("broker_jobs_dead_lettered_total", q)] == 2
    assert s[("broker_jobs_redriven_total", q)] == 1
    assert s[("broker_jobs_cancelled_total", q)] == 1
    assert s[("broker_job_wait_seconds_sum", q)] == 0.5
    assert s[("broker_job_run_seconds_count", (("outcome", "expired"), ("queue", "q")))] == 2
    assert s[("broker_job_run_seconds_bucket", (("le", "10.0"), ("outcome", "expired"), ("queue", "q")))] == 0
    assert s[("broker_job_run_seconds_sum", (("outcome", "failed"), ("queue", "q")))] == 2.0


async def test_gauges_come_from_the_overview_and_the_pool():
    async def overview():
        return _view()

    metrics = BrokerMetrics(overview, lambda: PoolUsage(in_use=2, idle=3, max_size=10))
    s = await _samples(metrics)
    assert s[("broker_jobs", (("queue", "q"), ("state", "ready")))] == 3
    assert s[("broker_jobs", (("queue", "q"), ("state", "dead")))] == 2
    assert s[("broker_jobs", (("queue", "q"), ("state", "running")))] == 0
    assert s[("broker_oldest_ready_job_age_seconds", (("queue", "q"),))] == 42.0
    assert s[("broker_worker_leases", (("queue", "q"), ("worker", "w1")))] == 4
    assert s[("broker_workers", (("queue", "q"),))] == 2
    assert s[("broker_db_pool_connections", (("state", "in_use"),))] == 2
    assert s[("broker_db_pool_connections", (("state", "idle"),))] == 3
    assert s[("broker_db_pool_max_connections", ())] == 10
    assert s[("broker_database_up", ())] == 1


async def test_without_the_database_counters_stay_and_up_says_so():
    async def overview():
        raise Unavailable()

    metrics = BrokerMetrics(overview)
    metrics.record([ev(Reason.ENQUEUE, None, P)])
    s = await _samples(metrics)
    assert s[("broker_database_up", ())] == 0
    assert s[("broker_jobs_enqueued_total", (("queue", "q"),))] == 1
    assert not any(name == "broker_jobs" for name, _ in s)


def test_two_brokers_in_one_process_have_their_own_registries():
    async def overview():
        return _view()

    BrokerMetrics(overview)
    BrokerMetrics(overview)  # would raise on a duplicate registration in a shared registry


async def test_flow_control_gauges_and_the_rate_limited_claims():
    from broker.entities.queue_state import QueueControls

    async def overview():
        return Overview(NOW, (QueueStats("q", running=3), QueueStats("free", running=9)), ())

    async def queues():
        return [QueueControls("q", concurrency_limit=5, per_key_concurrency=1, rate_limit=2.5, rate_burst=4),
                QueueControls("free", paused=True)]

    metrics = BrokerMetrics(overview, queues=queues)
    metrics.rate_limited("q")
    metrics.rate_limited("q")
    s = await _samples(metrics)
    q = (("queue", "q"),)
    assert s[("broker_queue_concurrency_limit", q)] == 5 and s[("broker_queue_concurrency_in_use", q)] == 3
    assert s[("broker_queue_per_key_concurrency", q)] == 1
    assert (s[("broker_queue_rate_limit", q)], s[("broker_queue_rate_burst", q)]) == (2.5, 4)
    assert s[("broker_claims_rate_limited_total", q)] == 2
    assert s[("broker_queue_paused", (("queue", "free"),))] == 1
    assert not any(k[0].startswith("broker_queue_") and k[1] == (("queue", "free"),) and k[0] != "broker_queue_paused"
                   for k in s)  # a queue without a limit or a rate shows none of their gauges
