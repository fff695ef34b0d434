"""Fixtures for the SDK's unit tests: the broker's own JobService over the in-memory store, on
a real grpc.aio server (memory_broker.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .memory_broker import MemoryBroker, serving


@pytest.fixture
async def memory_broker() -> AsyncIterator[MemoryBroker]:
    """The broker's servicers over the in-memory store on 127.0.0.1:<free port> (``.address``)."""
    async with serving() as broker:
        yield broker
