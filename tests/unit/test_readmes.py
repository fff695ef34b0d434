"""The two READMEs' examples use different queues: running both never makes one's worker lease
(and nack, having no handler for its kind) the other's jobs."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
READMES = {"server": ROOT / "README.md", "sdk": ROOT / "clients" / "python" / "README.md"}
LEASED = (r"queues=\[\"([\w.-]+)\"", r"Worker\(\[\"([\w.-]+)\"", r"worker \S+ --queue ([\w.-]+)")
ENQUEUED = (r"queue=\"([\w.-]+)\"", r"\.enqueue\(\s*\"([\w.-]+)\"", r"JobRequest\(\"([\w.-]+)\"",
            r"enqueue ([\w.-]+) \w+ '")


def code(path: pathlib.Path) -> str:
    return "\n".join(re.findall(r"```\w*\n(.*?)```", path.read_text(), re.S))


def found(path: pathlib.Path, patterns) -> set[str]:
    return {m for p in patterns for m in re.findall(p, code(path))}


def test_workers_of_one_readme_never_lease_the_other_readmes_jobs():
    server_leased, sdk_leased = found(READMES["server"], LEASED), found(READMES["sdk"], LEASED)
    assert server_leased and sdk_leased
    assert not server_leased & found(READMES["sdk"], ENQUEUED)
    assert not sdk_leased & found(READMES["server"], ENQUEUED)
