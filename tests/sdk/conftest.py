"""Fixtures for the SDK's unit tests: an in-memory JobService on a real grpc.aio server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from .fakes import FakeJobService, serve


@pytest.fixture
async def fake_broker() -> AsyncIterator[FakeJobService]:
    """A FakeJobService served on 127.0.0.1:<free port>; its address is ``.address``."""
    fake = FakeJobService()
    server, address = await serve(fake)
    fake.address = address  # type: ignore[attr-defined]
    yield fake
    await server.stop(None)
