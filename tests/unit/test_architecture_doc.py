"""docs/architecture.md names the module of every rule: each file it names must exist, so a
module that moves without the map failing this test cannot happen."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
# Paths as the map writes them: relative to src/broker/, or from the repository's root.
BASES = (ROOT / "src" / "broker", ROOT / "src" / "broker" / "infra" / "pg", ROOT)


def named_files() -> set[str]:
    text = DOC.read_text()
    return {m.group(1) for m in re.finditer(r"`([\w./]+\.(?:py|sql))", text)}


def test_the_map_names_files_at_all():
    assert len(named_files()) > 20


def test_every_file_the_map_names_exists():
    missing = sorted(name for name in named_files() if not any((base / name).exists() for base in BASES))
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"
