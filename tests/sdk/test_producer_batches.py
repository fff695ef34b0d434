"""The producers split batches into calls of their ``max_batch`` (default 1,000, the broker's
default BROKER_MAX_BATCH), an option for brokers whose limit differs."""

from __future__ import annotations

import pytest

from broker_client import AsyncClient, Client, JobRequest


def sizes(broker) -> list[int]:
    return [len(r.jobs) for r in broker.requests["EnqueueBatch"]]


async def test_batches_are_split_at_max_batch(memory_broker):
    async with AsyncClient(memory_broker.address, max_batch=3) as client:
        results = await client.enqueue_batch([JobRequest("q", "k", {"n": i}) for i in range(7)])
    assert sizes(memory_broker) == [3, 3, 1]
    assert len({r.job_id for r in results}) == 7


async def test_the_default_is_the_brokers_default_limit(memory_broker):
    async with AsyncClient(memory_broker.address) as client:
        assert client.max_batch == 1000
        await client.enqueue_batch([JobRequest("q", "k") for _ in range(1001)])
    assert sizes(memory_broker) == [1000, 1]


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
@pytest.mark.parametrize("cls", [Client, AsyncClient])
def test_a_bad_max_batch_is_refused_before_any_channel(cls, bad):
    with pytest.raises(ValueError, match="max_batch"):
        cls("127.0.0.1:1", max_batch=bad)
