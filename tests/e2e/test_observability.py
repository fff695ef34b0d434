"""After a scripted scenario, /metrics, the Stats RPC and the dashboard's API report the same
numbers, equal to the ones the scenario implies; every state change is logged exactly once."""

from __future__ import annotations

from collections import Counter

import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb
from tests.e2e.observe import get_json, job_log, run_scenario, scrape

STATES = ("ready", "scheduled", "retrying", "running", "succeeded", "dead", "cancelled")


@pytest.fixture
async def scenario(jobs, admin, clock, queue):
    with job_log() as lines:
        s = await run_scenario(jobs, admin, clock, queue)
    s.log = lines
    return s


async def test_metrics_stats_and_api_agree_with_the_scenario(scenario, admin, broker_server):
    q = scenario.queue
    _, m = await scrape(broker_server.http_port)
    [stats] = (await admin.Stats(apb.StatsRequest(queues=[q]))).queues
    [api] = [x for x in (await get_json(broker_server.http_port, "/api/queues"))["queues"] if x["queue"] == q]

    for state in STATES:
        expected = scenario.states[state]
        assert getattr(stats, state) == expected, state
        assert api[state] == expected, state
        assert m.get_value("broker_jobs", None, queue=q, state=state) == expected, state

    counters = {
        "enqueued": m.get_value("broker_jobs_enqueued_total", queue=q),
        "leased": m.get_value("broker_jobs_leased_total", queue=q),
        "succeeded": m.get_value("broker_jobs_succeeded_total", queue=q),
        "failed_retried": m.get_value("broker_jobs_failed_total", queue=q, outcome="retried"),
        "failed_dead": m.get_value("broker_jobs_failed_total", queue=q, outcome="dead"),
        "expired_retried": m.get_value("broker_lease_expirations_total", queue=q, outcome="retried"),
        "expired_dead": m.get_value("broker_lease_expirations_total", queue=q, outcome="dead"),
        "dead_lettered": m.get_value("broker_jobs_dead_lettered_total", queue=q),
        "redriven": m.get_value("broker_jobs_redriven_total", queue=q),
        "cancelled": m.get_value("broker_jobs_cancelled_total", queue=q),
    }
    assert counters == scenario.counters

    # The windows of Stats and the API count the same events as the counters.
    failed = m.sum("broker_jobs_failed_total", queue=q) + m.sum("broker_lease_expirations_total", queue=q)
    window = {"enqueued": counters["enqueued"], "succeeded": counters["succeeded"], "failed": failed,
              "dead_lettered": counters["dead_lettered"]}
    assert window == scenario.window
    for name, value in scenario.window.items():
        assert getattr(stats.last_hour, name) == value, name
        assert api["last_hour"][name] == value, name
    assert stats.last_hour.failure_rate == pytest.approx(4 / 6)
    assert api["last_hour"]["failure_rate"] == pytest.approx(4 / 6)

    # Oldest ready job: F, ready since 300 s before a scenario that moved the clock 2 s.
    ages = (stats.oldest_ready_age.ToTimedelta().total_seconds(), api["oldest_ready_age_seconds"],
            m.get_value("broker_oldest_ready_job_age_seconds", queue=q))
    for age in ages:
        assert scenario.oldest_ready_at_least <= age < scenario.oldest_ready_at_least + 120


async def test_histograms_time_waits_and_runs_from_the_store(scenario, broker_server):
    q = scenario.queue
    _, m = await scrape(broker_server.http_port)
    assert m.get_value("broker_job_wait_seconds_count", queue=q) == 6
    # F waited 300 s but was never leased; the leased jobs waited a moment, G under a second.
    count = {o: m.get_value("broker_job_run_seconds_count", queue=q, outcome=o)
             for o in ("succeeded", "failed", "expired")}
    assert count == {"succeeded": 2, "failed": 3, "expired": 1}
    # E's lease ran from its lease until the reaper saw it lapse, after the clock moved 2 s.
    assert m.get_value("broker_job_run_seconds_bucket", queue=q, outcome="expired", le="1.0") == 0
    assert m.get_value("broker_job_run_seconds_bucket", queue=q, outcome="expired", le="+Inf") == 1
    assert m.get_value("broker_job_run_seconds_sum", queue=q, outcome="expired") >= 2.0


async def test_every_state_change_is_logged_once_with_its_fields(scenario, db):
    q = scenario.queue
    rows = await db.fetch("SELECT job_id::text, from_state, to_state, reason, attempt, worker_id, error "
                          "FROM broker_events WHERE queue = $1", q)
    events = Counter((r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in rows)
    logged = Counter((line["job_id"], line["from"], line["to"], line["reason"], line["attempt"],
                      line["worker"], line["error"])
                     for line in scenario.log if line["queue"] == q)
    assert sum(events.values()) == 8 + 6 + 2 + 3 + 1 + 1 + 1  # enqueues, leases, acks, nacks, expiry...
    assert logged == events
    assert all(n == 1 for n in logged.values())
    for line in scenario.log:
        assert line["logger"] == "broker.jobs" and line["level"] == "info"
        assert {"kind", "request_id", "ts"} <= set(line)
    by_reason = {(line["job_id"], line["reason"]): line for line in scenario.log}
    expired = by_reason[(scenario.ids["E"], "expire")]
    assert expired["error"] == "lease expired" and expired["worker"] == "w2"
    assert expired["ran_seconds"] >= 2.0


async def test_rpc_latency_is_recorded_by_method_and_code(admin, broker_server):
    method = "/broker.v1.AdminService/GetJob"
    _, before = await scrape(broker_server.http_port)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.GetJob(apb.GetJobRequest(job_id="00000000-0000-0000-0000-000000000000"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError):
        await admin.GetJob(apb.GetJobRequest(job_id="not-a-uuid"))
    await admin.Stats(apb.StatsRequest())
    _, after = await scrape(broker_server.http_port)

    def delta(name, **labels):
        return after.get_value(name, **labels) - before.get_value(name, **labels)

    assert delta("broker_rpc_duration_seconds_count", method=method, code="NOT_FOUND") == 1
    assert delta("broker_rpc_duration_seconds_count", method=method, code="INVALID_ARGUMENT") == 1
    assert delta("broker_rpc_duration_seconds_count", method="/broker.v1.AdminService/Stats", code="OK") == 1


async def test_pool_and_database_gauges(broker_server):
    _, m = await scrape(broker_server.http_port)
    assert m.get_value("broker_database_up") == 1
    assert m.get_value("broker_db_pool_max_connections") == broker_server.settings.database.pool_max
    in_use, idle = (m.get_value("broker_db_pool_connections", state=s, default=None) for s in ("in_use", "idle"))
    assert in_use is not None and idle is not None and in_use + idle >= 1
