"""The queues' run-time retry policies in both stores: set, changed field by field, refused as a
whole (nothing changes), reset."""

from __future__ import annotations

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.queue import QueueDefaults
from broker.entities.queue_retry import RetryChange, RetryDefaults
from broker.entities.retry import Jitter
from broker.infra.pg.retry_defaults import PgRetryStore
from tests.contract.helpers import seconds
from tests.fakes.retry_store import InMemoryRetryStore

BASE = QueueDefaults()


@pytest.fixture(params=["memory", "postgres"])
def retry(request):
    if request.param == "memory":
        return InMemoryRetryStore()
    return PgRetryStore(request.getfixturevalue("db"))


def step(change: RetryChange, now):
    return lambda current: change.apply(current, BASE, now)


async def test_set_changed_refused_and_reset(retry, queue, t0):
    assert await retry.get(queue) is None
    made = await retry.change(queue, step(RetryChange(max_attempts=4, jitter=Jitter.NONE), t0), t0)
    assert made == RetryDefaults(4, jitter=Jitter.NONE, updated_at=t0) == await retry.get(queue)
    more = await retry.change(queue, step(RetryChange(initial_delay=2.5), seconds(t0, 1)), seconds(t0, 1))
    assert (more.max_attempts, more.initial_delay, more.updated_at) == (4, 2.5, seconds(t0, 1))
    with pytest.raises(InvalidArgument):
        await retry.change(queue, step(RetryChange(max_delay=1.0), seconds(t0, 2)), seconds(t0, 2))
    assert await retry.get(queue) == more
    assert (await retry.all())[queue] == more
    assert await retry.change(queue, step(RetryChange(reset=True), t0), t0) is None
    assert await retry.get(queue) is None and queue not in await retry.all()
