"""The dashboard's own files: each script under the module size rule, no server text put in as
HTML, every asset the page loads served by the broker itself (offline), the vendored library
with its licence."""

from __future__ import annotations

import pathlib
import re

STATIC = pathlib.Path(__file__).resolve().parents[2] / "src" / "broker" / "interface" / "http" / "static"
OURS = sorted(STATIC.glob("*.js"))


def test_the_page_has_scripts_of_its_own():
    assert {p.name for p in OURS} >= {"core.js", "app.js", "jobs.js", "detail.js", "charts.js"}


def test_each_script_is_at_most_300_lines():
    too_long = {p.name: n for p in OURS if (n := len(p.read_text().splitlines())) > 300}
    assert not too_long


def test_no_script_writes_html():
    found = [f"{p.name}:{i}" for p in OURS for i, line in enumerate(p.read_text().splitlines(), 1)
             if re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", line)]
    assert not found


def test_every_asset_of_the_page_is_served_from_static():
    page = (STATIC / "index.html").read_text()
    assets = re.findall(r'(?:src|href)="([^"#]+)"', page)
    local = [a for a in assets if a.startswith("/static/")]
    assert len(local) >= 10
    assert all(a.startswith(("/static/", "/metrics")) for a in assets), assets
    assert all((STATIC / a.removeprefix("/static/")).is_file() for a in local)


def test_the_vendored_chart_library_comes_with_its_licence():
    assert (STATIC / "vendor" / "uPlot.iife.min.js").read_text().startswith("/*! https://github.com/leeoniya/uPlot")
    assert "MIT License" in (STATIC / "vendor" / "uPlot.LICENSE").read_text()
