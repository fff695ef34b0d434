"""The operations kit: the exposition passes promtool's lint, the alert rules are valid and fire
as their unit tests say, and the Grafana dashboard and the rules query only metrics the broker
exports."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
import subprocess

import pytest

from broker.v1 import admin_service_pb2 as apb
from tests.e2e.helpers import enqueue, lease
from tests.e2e.observe import run_scenario, scrape

ROOT = pathlib.Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
METRIC = re.compile(r"\bbroker_[a-z_]+\b")


def promtool() -> str:
    """promtool from PATH or from tools/install-promtool.sh; the test skips only when absent."""
    found = shutil.which("promtool") or ROOT / ".tools" / "bin" / "promtool"
    if not pathlib.Path(found).exists():
        pytest.skip("promtool is absent (tools/install-promtool.sh unpacks it)")
    return str(found)


@pytest.fixture
async def exposition(jobs, admin, clock, queue, broker_server):
    """A scrape after the scenario, with a lease held so the worker gauges are present."""
    await run_scenario(jobs, admin, clock, queue)
    held = queue + "-held"
    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=held, breaker=apb.BreakerSettings()))  # its gauge
    await enqueue(jobs, held, 1)
    await lease(jobs, held, 1, worker="holder")
    text, samples = await scrape(broker_server.http_port)
    return text, {name for name, _ in samples}


async def test_exposition_passes_promtool_check_metrics(exposition):
    text, _ = exposition
    result = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_alert_rules_are_valid_and_fire_as_their_tests_say():
    tool = promtool()
    checked = subprocess.run([tool, "check", "rules", str(OPS / "prometheus-alerts.yml")],
                             capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([tool, "test", "rules", str(OPS / "prometheus-alerts.test.yml")],
                            capture_output=True, text=True)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_alerts_cover_what_the_issue_asks():
    rules = (OPS / "prometheus-alerts.yml").read_text()
    alerts = re.findall(r"- alert: (\w+)", rules)
    assert {"BrokerBacklogGrowing", "BrokerOldestReadyJobTooOld", "BrokerDeadLettersArriving",
            "BrokerFailureRateHigh", "BrokerNoWorkerLeasing"} <= set(alerts)
    tests = (OPS / "prometheus-alerts.test.yml").read_text()
    assert set(alerts) <= set(re.findall(r"alertname: (\w+)", tests)), "every alert has a unit test"


async def test_dashboard_and_rules_query_only_exported_metrics(exposition):
    _, exported = exposition
    dashboard = json.loads((OPS / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 15
    used = {m for e in exprs for m in METRIC.findall(e)}
    used |= set(METRIC.findall((OPS / "prometheus-alerts.yml").read_text()))
    assert used and used <= exported, sorted(used - exported)
