"""Waiting in unit tests without time passing: other tasks run until a condition holds."""

from __future__ import annotations

import asyncio


async def until(condition, tries: int = 1000, fail: bool = True) -> None:
    """Let other tasks run until `condition` holds (no time passes on any clock); after `tries`
    turns, fail the test (or, with `fail` False, return quietly)."""
    for _ in range(tries):
        if condition():
            return
        await asyncio.sleep(0)
    assert not fail, "the condition never held"
