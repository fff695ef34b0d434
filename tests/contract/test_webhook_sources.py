"""The webhook source store, in memory and in PostgreSQL alike: create once per name, get,
list by name, update (created_at kept), delete."""

from __future__ import annotations

import uuid

import pytest

from broker.infra.pg.store import PgJobStore
from broker.infra.pg.webhook_sources import PgWebhookSourceStore
from broker.usecases.webhook_sources.define import SourceSpec
from tests.contract.helpers import seconds
from tests.fakes.webhook_source_store import InMemoryWebhookSourceStore


@pytest.fixture
def sources(store, request):
    if isinstance(store, PgJobStore):
        return PgWebhookSourceStore(request.getfixturevalue("db"))
    return InMemoryWebhookSourceStore()


async def test_the_webhook_source_store(sources, t0):
    name = f"src-{uuid.uuid4().hex[:8]}"
    spec = SourceSpec(name, "github", "q", "gh.event", ("s1",), "header:x-github-delivery", ("x-extra",))
    assert await sources.create(spec, t0) and not await sources.create(spec, t0)
    got = await sources.get(name)
    assert (got.scheme, got.queue, got.kind, got.secrets, got.delivery_id, got.headers) == (
        "github", "q", "gh.event", ("s1",), "header:x-github-delivery", ("x-extra",))
    assert got.created_at == got.updated_at == t0 and got.secret_count == 1 and not got.declared
    assert name in [s.name for s in await sources.list_sources()]
    after = await sources.update(SourceSpec(name, "standard", "q2", "k", ("a", "b"), "json:id", ()), seconds(t0, 1))
    assert (after.scheme, after.secrets, after.headers, after.created_at, after.updated_at) == (
        "standard", ("a", "b"), (), t0, seconds(t0, 1))
    assert await sources.update(SourceSpec("nobody-" + name, "github", "q", "k"), t0) is None
    assert await sources.delete(name) and not await sources.delete(name)
    assert await sources.get(name) is None
