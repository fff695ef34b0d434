"""The quick round of the fault scenarios (`python -m faults --quick`, faults/README.md): worker
processes killed with -9 in a loop, a broker replica killed and restarted, PostgreSQL stopped
and started, a burst beyond the in-flight bound. On a private PostgreSQL the harness starts, with
every job counted by the unique id in its payload: nothing acknowledged is lost, every extra run
of a job is explained by a lapsed lease, and no call is answered with a code other than OK,
UNAVAILABLE or RESOURCE_EXHAUSTED. The whole round runs once for this module."""

import pytest

from faults import postgres, runner
from faults.profiles import QUICK
from faults.scenarios import SCENARIOS

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def quick_round():
    try:
        postgres.bindir()
    except postgres.NoPostgres as exc:
        pytest.skip(str(exc))
    results = await runner.run(QUICK)
    return {r["scenario"]: r for r in results["scenarios"]}


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_the_fault_loses_nothing_and_answers_only_ok_unavailable_or_resource_exhausted(quick_round, name):
    r = quick_round[name]
    assert "error" not in r, r.get("traceback")
    assert r["drained"], r["states"]
    assert r["acknowledged"] > 0 and r["succeeded"] >= r["acknowledged"]
    assert r["lost"] == 0, r["lost_sample"]
    assert r["duplicates_unexplained"] == 0, r["unexplained_sample"]
    assert r["bad_codes"] == 0, (r["bad_codes_by_code"], r["worker_failure_sample"])
    assert r["succeeded_without_record"] == 0 and r["acknowledged_with_wrong_id"] == 0
    assert r["worker_calls_counted"] > 0
