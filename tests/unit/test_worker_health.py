"""The dashboard's pure parts (issue #16): each queue problem code, the latency buckets and
percentiles, the merge of seen workers with lease holders, and the registry Lease tells."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.health import CODES, HealthThresholds, problems
from broker.entities.latency import BUCKETS, LatencyCount, bucket_of, quantile, summarise
from broker.entities.queue_state import QueueControls
from broker.entities.stats import QueueStats, WindowCounts, WorkerLeases
from broker.entities.workers import MAX_HELD, HeldLease, SeenWorker, merge, per_queue
from broker.usecases.workers.registry import WorkerRegistry

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
HEALTHY = QueueStats("q", ready=3, oldest_ready_age=10.0, last_hour=WindowCounts(succeeded=90, failed=10))


def codes(q: QueueStats = HEALTHY, controls: QueueControls | None = None, workers: int = 1,
          t: HealthThresholds = HealthThresholds()) -> list[str]:
    return [p.code for p in problems(q, controls, workers, t)]


def test_a_queue_with_workers_and_nothing_wrong_has_no_problems():
    assert codes() == []
    assert codes(QueueStats("empty"), workers=0) == []  # nothing ready: no worker is needed


@pytest.mark.parametrize("q, controls, workers, expected", [
    (HEALTHY, None, 0, "no_workers"),
    (QueueStats("q", ready=1, oldest_ready_age=301.0), None, 1, "oldest_ready"),
    (QueueStats("q", last_hour=WindowCounts(succeeded=14, failed=6)), None, 1, "failure_rate"),  # 30 % of 20
    (QueueStats("q", breaker="open"), None, 1, "breaker_open"),
    (QueueStats("q"), QueueControls("q", paused=True), 1, "paused"),
])
def test_each_code_alone(q, controls, workers, expected):
    assert codes(q, controls, workers) == [expected]
    assert expected in CODES


def test_the_thresholds_are_limits_not_reached_and_come_from_settings():
    assert codes(QueueStats("q", ready=1, oldest_ready_age=300.0)) == []                 # not over 300 s
    assert codes(QueueStats("q", last_hour=WindowCounts(succeeded=13, failed=6))) == []  # 19 attempts: too few
    assert codes(QueueStats("q", last_hour=WindowCounts(succeeded=15, failed=5))) == []  # 25 %: not over
    assert codes(QueueStats("q", breaker="half_open")) == [] and codes(QueueStats("q", breaker="closed")) == []
    strict = HealthThresholds(oldest_ready=5.0, failure_rate=0.05, min_attempts=10)
    assert codes(HEALTHY, t=strict) == ["oldest_ready", "failure_rate"]


def test_every_problem_at_once_in_the_order_of_the_codes_with_messages():
    q = QueueStats("q", ready=2, oldest_ready_age=900.0, breaker="open",
                   last_hour=WindowCounts(succeeded=10, failed=30))
    found = problems(q, QueueControls("q", paused=True), 0, HealthThresholds(seen_seconds=45))
    assert [p.code for p in found] == list(CODES)
    assert found[0].message == "2 ready jobs and no worker asked for this queue in the last 45 s"
    assert found[1].message == "the oldest ready job has waited 900 s (over 300 s)"
    assert found[2].message == "75% of the last hour's 40 attempts failed (over 25%)"


def test_buckets_are_the_upper_bounds_that_count_a_time():
    assert bucket_of(0) == 0.005 and bucket_of(-1) == 0.005 and bucket_of(0.005) == 0.005
    assert bucket_of(0.0051) == 0.01 and bucket_of(40) == 60 and bucket_of(86400) == 86400
    assert bucket_of(10 ** 9) == math.inf and list(BUCKETS) == sorted(BUCKETS)


def test_percentiles_interpolate_within_their_bucket():
    assert quantile({}, 0.5) is None and quantile({60: 0}, 0.5) is None
    assert quantile({60: 4}, 0.5) == 45.0            # (30, 60]: half way
    assert quantile({1: 1, 60: 1}, 0.5) == 1.0       # the top of the first one counted
    assert quantile({0.005: 10}, 0.99) == pytest.approx(0.00495)
    assert quantile({86400: 1, math.inf: 99}, 0.99) == 86400   # +Inf: the largest finite bound


def test_counts_summarise_per_queue_and_minute_summed_over_rows():
    m0, m1 = T0, T0 + timedelta(minutes=1)
    found = summarise([LatencyCount("a", m0, "pickup", 60, 2), LatencyCount("a", m0, "pickup", 60, 2),
                       LatencyCount("a", m0, "run", 1, 1), LatencyCount("b", m1, "run", 120, 3)])
    assert [(m.queue, m.minute) for m in found] == [("a", m0), ("b", m1)]
    assert (found[0].pickup.count, found[0].pickup.p50, found[0].run.count) == (4, 45.0, 1)
    assert (found[1].pickup.count, found[1].pickup.p50, found[1].run.count) == (0, None, 3)


def test_workers_seen_merge_with_the_lease_holders():
    seen = [SeenWorker("idle", ("a", "b"), T0, True), SeenWorker("busy", ("a",), T0, False)]
    leases = [WorkerLeases("busy", "a", 2, T0 + timedelta(seconds=5)), WorkerLeases("other", "c", 1, T0)]
    held = [HeldLease("busy", f"j{i}", "a", "k", T0) for i in range(MAX_HELD + 3)]
    views = {w.worker_id: w for w in merge(seen, leases, held)}
    assert sorted(views) == ["busy", "idle", "other"]
    assert (views["idle"].queues, views["idle"].leases, views["idle"].idle, views["idle"].waiting) == (("a", "b"), 0, True, True)
    busy = views["busy"]
    assert (busy.leases, len(busy.held), busy.idle, busy.last_seen) == (2, MAX_HELD, False, T0 + timedelta(seconds=5))
    assert (views["other"].queues, views["other"].waiting) == (("c",), False)  # holds leases, never seen asking
    counts = per_queue(list(views.values()), leases)
    assert {q: (n.workers, n.leases) for q, n in counts.items()} == {"a": (2, 2), "b": (1, 0), "c": (1, 1)}


def test_the_registry_hands_each_flush_what_changed_and_open_polls():
    r = WorkerRegistry(forget_after=60)
    r.called("w", ["a", "b"], T0, waiting=True)
    r.called("x", ["a"], T0, waiting=False)
    first = {(s.worker_id, s.queue): (s.last_seen, s.waiting) for s in r.take(T0 + timedelta(seconds=1))}
    assert first == {("w", "a"): (T0 + timedelta(seconds=1), True), ("w", "b"): (T0 + timedelta(seconds=1), True),
                     ("x", "a"): (T0, False)}
    later = T0 + timedelta(seconds=2)
    assert {(s.worker_id, s.queue) for s in r.take(later)} == {("w", "a"), ("w", "b")}  # polling: seen now
    r.poll_ended("w", ["a", "b"])
    assert {(s.worker_id, s.waiting) for s in r.take(later)} == {("w", False)}  # the end of its poll, once
    assert r.take(later) == []
    rows = r.take(later)
    r.called("x", ["a"], later, waiting=False)
    rows = r.take(later)
    r.put_back(rows)                                                  # a failed flush: again next time
    assert [(s.worker_id, s.queue) for s in r.take(later)] == [("x", "a")]
    assert r.take(T0 + timedelta(seconds=120)) == [] and r._rows == {}  # forgotten after 60 s
