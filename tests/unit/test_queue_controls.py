"""The queue-control interactors with the in-memory stores: checks, events, log lines, wake-ups."""

from __future__ import annotations

import logging

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.queue import Limits
from broker.entities.queue_state import ControlsChange, QueueControls
from broker.usecases.queues.listing import GetQueue, ListQueues
from broker.usecases.queues.update import UpdateQueue
from tests.fakes import InMemoryJobStore, ManualClock, RecordingNotifier
from tests.fakes.queue_store import InMemoryQueueStore


@pytest.fixture
def parts():
    store = InMemoryQueueStore(InMemoryJobStore())
    clock, notifier = ManualClock(), RecordingNotifier()
    return store, notifier, UpdateQueue(store, clock, notifier, Limits())


async def test_a_resume_or_a_raised_limit_wakes_the_queue_and_a_pause_does_not(parts, caplog):
    store, notifier, update = parts
    caplog.set_level(logging.INFO, logger="broker.queues")
    await update("q", ControlsChange(paused=True, concurrency_limit=2))
    assert notifier.notified == []
    await update("q", ControlsChange(concurrency_limit=1))
    assert notifier.notified == []
    await update("q", ControlsChange(paused=False))
    await update("q", ControlsChange(concurrency_limit=0))
    assert notifier.notified == [["q"], ["q"]]
    assert [e.changes for e in store.events] == [("paused", "concurrency_limit"), ("concurrency_limit",),
                                                 ("resumed",), ("concurrency_limit",)]
    assert [r.getMessage() for r in caplog.records] == [
        "queue q: paused, concurrency_limit", "queue q: concurrency_limit", "queue q: resumed",
        "queue q: concurrency_limit"]
    assert await GetQueue(store, Limits())("q") == QueueControls("q", False, None, store.events[-1].at)
    assert [q.name for q in await ListQueues(store)()] == ["q"]


@pytest.mark.parametrize("name, change, field", [
    ("q", ControlsChange(concurrency_limit=-1), "concurrency_limit"),
    ("q", ControlsChange(concurrency_limit=10**7), "concurrency_limit"),
    ("q", ControlsChange(per_key_concurrency=-1), "per_key_concurrency"),
    ("q", ControlsChange(per_key_concurrency=10**7), "per_key_concurrency"),
    ("q", ControlsChange(rate_limit=-0.5), "rate_limit"),
    ("q", ControlsChange(rate_limit=float("nan")), "rate_limit"),
    ("q", ControlsChange(rate_limit=float("inf")), "rate_limit"),
    ("q", ControlsChange(rate_limit=2e6), "rate_limit"),
    ("q", ControlsChange(rate_limit=5.0, rate_burst=0), "rate_burst"),
    ("q", ControlsChange(rate_limit=5.0, rate_burst=-3), "rate_burst"),
    ("q", ControlsChange(rate_burst=10), "rate_burst"),  # a burst without a rate
    ("", ControlsChange(paused=True), "name"),
    ("a/b", ControlsChange(paused=True), "name"),
])
async def test_bad_input_names_the_field_and_changes_nothing(parts, name, change, field):
    store, notifier, update = parts
    with pytest.raises(InvalidArgument) as caught:
        await update(name, change)
    assert caught.value.field == field
    assert store.events == [] and await store.list_queues() == []


async def test_a_per_key_limit_and_a_rate_are_set_logged_and_cleared(parts, caplog):
    store, notifier, update = parts
    caplog.set_level(logging.INFO, logger="broker.queues")
    controls = await update("q", ControlsChange(per_key_concurrency=1, rate_limit=0.5))
    assert (controls.per_key_concurrency, controls.rate_limit, controls.rate_burst) == (1, 0.5, 1)
    assert controls.counted and not controls.limited
    await update("q", ControlsChange(rate_limit=20.0))  # the burst it had stays
    assert (await store.get("q")).rate_burst == 1
    await update("q", ControlsChange(per_key_concurrency=0, rate_limit=0))
    assert not (await store.get("q")).counted
    assert [r.getMessage() for r in caplog.records] == [
        "queue q: per_key_concurrency, rate_limit", "queue q: rate_limit",
        "queue q: per_key_concurrency, rate_limit"]
    assert notifier.notified == [["q"], ["q"]]  # the rate raised; both removed


async def test_a_burst_set_with_a_rate_already_there_changes_only_the_burst(parts):
    store, _, update = parts
    await update("q", ControlsChange(rate_limit=3.0))
    assert (await update("q", ControlsChange(rate_burst=9))).rate_burst == 9
    with pytest.raises(InvalidArgument) as caught:
        await update("q", ControlsChange(rate_burst=0))
    assert caught.value.field == "rate_burst" and (await store.get("q")).rate_burst == 9
