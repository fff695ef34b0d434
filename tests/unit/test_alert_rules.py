"""Every alert rule waits out a `for:` and links a runbook section that exists in docs/runbooks.md."""

from __future__ import annotations

import pathlib
import re

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]


def alerts() -> list[dict]:
    rules = yaml.safe_load((ROOT / "ops" / "prometheus-alerts.yml").read_text())
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def anchors() -> set[str]:
    headings = re.findall(r"^## (.+)$", (ROOT / "docs" / "runbooks.md").read_text(), re.M)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}


def test_every_alert_has_a_for_and_a_runbook_that_exists():
    found = alerts()
    assert len(found) >= 6
    for rule in found:
        assert rule.get("for"), f"{rule['alert']} has no for:"
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert (ROOT / path).exists(), url
        assert anchor == rule["alert"].lower() and anchor in anchors(), url
