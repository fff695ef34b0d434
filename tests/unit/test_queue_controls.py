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
    ("", ControlsChange(paused=True), "name"),
    ("a/b", ControlsChange(paused=True), "name"),
])
async def test_bad_input_names_the_field_and_changes_nothing(parts, name, change, field):
    store, notifier, update = parts
    with pytest.raises(InvalidArgument) as caught:
        await update(name, change)
    assert caught.value.field == field
    assert store.events == [] and await store.list_queues() == []
