"""The size rules of the house (issue: one place for each rule): no module over 300 lines, the
median module at most 80, no function over 40 lines. Generated protobuf code is not ours."""

from __future__ import annotations

import ast
import pathlib
import statistics

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = {
    "server": ROOT / "src" / "broker",
    "python sdk": ROOT / "clients" / "python" / "src" / "broker_client",
}
MAX_MODULE, MAX_MEDIAN, MAX_FUNCTION = 300, 80, 40


def modules(package: pathlib.Path) -> list[pathlib.Path]:
    return sorted(p for p in package.rglob("*.py") if "v1" not in p.relative_to(package).parts)


def lines(path: pathlib.Path) -> int:
    return len(path.read_text().splitlines())


@pytest.mark.parametrize("name", PACKAGES)
def test_no_module_is_over_300_lines_and_the_median_is_at_most_80(name):
    found = {p: lines(p) for p in modules(PACKAGES[name])}
    assert found, f"no modules found under {PACKAGES[name]}"
    too_long = {str(p.relative_to(ROOT)): n for p, n in found.items() if n > MAX_MODULE}
    assert not too_long
    assert statistics.median(found.values()) <= MAX_MEDIAN


@pytest.mark.parametrize("name", PACKAGES)
def test_no_function_is_over_40_lines(name):
    too_long = []
    for path in modules(PACKAGES[name]):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({length} lines)")
    assert not too_long
