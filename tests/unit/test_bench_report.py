"""The benchmark's arithmetic: percentiles, ratios and target checks (no timing is asserted)."""

from bench.report import ratio, targets
from bench.results import Figure, Results
from bench.stats import percentile, summary


def test_percentile_interpolates_and_handles_edges():
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([5], 99) == 5
    assert percentile([], 50) != percentile([], 50)  # nan


def test_summary_is_median_min_max_of_runs():
    assert summary([3.0, 1.0, 2.0])["median"] == 2.0
    assert (summary([3.0, 1.0, 2.0])["min"], summary([3.0, 1.0, 2.0])["max"]) == (1.0, 3.0)


def test_ratio_above_one_means_the_broker_is_better():
    fast = Figure("drain", "drain", "broker", "c", "jobs/s", [200.0])
    slow = Figure("drain", "drain", "pgqueuer", "c", "jobs/s", [100.0], role="peer")
    assert ratio(fast, slow) == 2.0
    low = Figure("latency", "latency-p50", "broker", "c", "p50 ms", [1.0], higher_is_better=False)
    high = Figure("latency", "latency-p50", "celery", "c", "p50 ms", [2.0], higher_is_better=False, role="peer")
    assert ratio(low, high) == 2.0


def test_targets_compare_with_the_best_peer_and_the_reference():
    results = Results()
    results.add(Figure("drain", "drain", "broker", "c=100 x2", "jobs/s", [3000.0]))
    results.add(Figure("drain", "drain", "pgqueuer", "b50", "jobs/s", [1000.0], role="peer"))
    results.add(Figure("drain", "drain", "celery", "x2", "jobs/s", [2500.0], role="peer"))
    results.add(Figure("drain", "drain", "raw-sql", "claim 100", "jobs/s", [5000.0], role="tuned"))
    found = {t.name: t.status for t in targets(results)}
    assert found["drain vs best peer"] == "MISS"  # 3000 / 2500 < 1.5
    assert found["drain vs raw SQL with the same events"] == "MISS"  # 0.6 < 0.75
    assert found["pickup p50"] == "n/a"


def _result_file(path, profile: str, cpu: float, commit: str = "abc1234def") -> None:
    import json
    path.write_text(json.dumps({"profile": profile, "commit": commit, "figures": [
        {"group": "cost-broker_cpu_per_1k", "median": cpu}]}))


def test_cpu_is_compared_with_the_committed_release_before_local_runs(tmp_path):
    from bench.report import previous_cpu
    results, release = tmp_path / "results", tmp_path / "release"
    results.mkdir()
    release.mkdir()
    _result_file(results / "20990101-000000-full.json", "full", 0.05)
    assert previous_cpu(str(results), "full", None, str(release)) == (0.05, "20990101-000000-full.json")
    _result_file(release / "full.json", "full", 0.03)
    assert previous_cpu(str(results), "full", None, str(release)) == (0.03, "release abc1234")
    assert previous_cpu(str(results), "quick", None, str(release)) is None  # other profiles only


def test_a_rise_beyond_the_noise_margin_is_a_miss():
    results = Results()
    results.add(Figure("cost", "cost-broker_cpu_per_1k", "broker", "c", "s", [0.05], higher_is_better=False))
    found = {t.name: t.status for t in targets(results, (0.04, "release x"))}
    assert found["broker CPU per job never rises"] == "MISS"  # 0.05 > 0.04 x 1.1
    found = {t.name: t.status for t in targets(results, (0.047, "release x"))}
    assert found["broker CPU per job never rises"] == "PASS"


def test_postgres_cpu_counts_backends_from_their_first_reading_and_splits_autovacuum():
    from bench.pgcpu import per_1k, split_by_kind
    # 1 was there at the start (read 2.0), 2 appeared later (from zero), 3 is an autovacuum worker.
    used = split_by_kind({1: 2.0, 2: 0.0, 3: 0.0}, {1: 2.5, 2: 0.25, 3: 0.25},
                         {1: "client backend", 2: "client backend", 3: "autovacuum worker"})
    assert used == {"total": 1.0, "client backend": 0.75, "autovacuum worker": 0.25}
    assert per_1k(used, 500) == {"pg_cpu_per_1k": 2.0, "pg_autovacuum_cpu_per_1k": 0.5}
    assert per_1k({"total": 0.0}, 0)["pg_cpu_per_1k"] == 0.0  # no jobs: no division by zero


def _cost(group: str, system: str, value: float, role: str = "peer") -> Figure:
    return Figure("cost", group, system, "c", "s", [value] if value == value else [], higher_is_better=False,
                  role=role)


def test_cost_targets_compare_the_brokers_postgres_cpu_with_pgqueuers():
    results = Results()
    results.add(_cost("cost-pg_cpu_per_1k", "broker", 0.06, "subject"))
    results.add(_cost("cost-pg_cpu_per_1k", "pgqueuer", 0.10))
    results.add(_cost("cost-pg_cpu_per_1k", "procrastinate", 0.01))  # not the target's peer
    results.add(_cost("cost-pg_cpu_per_1k", "celery", float("nan")))  # n/a: no PostgreSQL
    results.add(_cost("steady-broker_cpu_per_1k", "broker", 0.2, "subject"))
    results.add(_cost("steady-pg_cpu_per_1k", "broker", 0.05, "subject"))
    results.add(_cost("steady-pg_cpu_per_1k", "pgqueuer", 0.04))
    found = {t.name: t for t in targets(results)}
    drain = found["drain: PostgreSQL CPU per 1,000 jobs"]
    assert (drain.status, drain.measured) == ("PASS", "0.60x (0.060 vs 0.100 s)")  # 0.6 <= 0.67
    assert found["steady: PostgreSQL CPU per 1,000 jobs"].status == "MISS"  # 1.25x > 1.0x
    assert found["steady: broker CPU per 1,000 jobs"].status == "MISS"  # 0.2 > 0.10


def test_cost_targets_without_pgqueuer_are_not_measured():
    results = Results()
    results.add(_cost("cost-pg_cpu_per_1k", "broker", 0.06, "subject"))
    results.add(_cost("steady-broker_cpu_per_1k", "broker", 0.08, "subject"))
    found = {t.name: t.status for t in targets(results)}
    assert found["drain: PostgreSQL CPU per 1,000 jobs"] == "n/a"
    assert found["steady: PostgreSQL CPU per 1,000 jobs"] == "n/a"
    assert found["steady: broker CPU per 1,000 jobs"] == "PASS"


def test_peers_cost_rows_sit_beside_the_brokers_with_ratios():
    from bench.report import rows
    results = Results()
    results.add(_cost("cost-pg_cpu_per_1k", "broker", 0.05, "subject"))
    results.add(_cost("cost-workers_cpu_per_1k", "broker", 0.02, "subject"))
    results.add(_cost("cost-pg_cpu_per_1k", "raw-sql", 0.04, "reference"))
    results.add(_cost("cost-pg_cpu_per_1k", "pgqueuer", 0.10))
    results.add(_cost("cost-pg_cpu_per_1k", "celery", float("nan")))
    found = rows(results)
    assert [r[1] for r in found] == ["broker", "raw-sql", "pgqueuer", "celery", "broker"]
    assert found[0][6] == "0.80x" and found[0][9] == "2.00x"  # raw 0.04 / 0.05; best peer 0.10 / 0.05
    assert found[3][4] == "-"  # celery's n/a row has no median
