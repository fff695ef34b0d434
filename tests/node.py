"""Where the Node SDK is and whether it is built (`make node-build`); its tests skip on a
developer's machine without Node.js, and fail in CI, where it must be there."""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
NODE_DIR = ROOT / "clients" / "node"
DIST = NODE_DIR / "dist"


def node_or_skip() -> str:
    node = shutil.which("node")
    problem = None
    if node is None:
        problem = "node is not installed"
    elif not (DIST / "src" / "index.js").exists() or not (DIST / "test").exists():
        problem = "the Node SDK is not built: run `make node-build`"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    return node  # type: ignore[return-value]


def test_files() -> list[str]:
    """The compiled test files of the Node suite, relative to clients/node."""
    return sorted(str(p.relative_to(NODE_DIR)) for p in (DIST / "test").glob("*.test.js"))


test_files.__test__ = False  # a helper, not a test
