"""Delivery: the long poll's own re-check interval, and what wakes waiting long polls."""

from __future__ import annotations

from datetime import timedelta

import pytest

from broker.infra import settings as settings_mod
from broker.entities.lease import LeaseRef
from broker.usecases.lease import RECHECK_SECONDS, LeaseJobs, LeaseRequest
from broker.usecases.nack import NackItem
from tests.unit.conftest import World


def test_the_long_poll_recheck_is_a_setting():
    assert settings_mod.load({}).server.long_poll_recheck == RECHECK_SECONDS == 0.5
    assert settings_mod.load({"BROKER_LONG_POLL_RECHECK": "30"}).server.long_poll_recheck == 30.0


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_long_poll_recheck_stops_start_up_naming_it(value):
    with pytest.raises(settings_mod.SettingsError, match="BROKER_LONG_POLL_RECHECK"):
        settings_mod.load({"BROKER_LONG_POLL_RECHECK": value})


async def test_a_long_poll_looks_again_at_the_interval_it_is_given(world: World):
    lease = LeaseJobs(world.store, world.clock, world.notifier, world.sink, world.limits, recheck=4.0)
    start = world.clock.now()

    assert await lease(LeaseRequest(("steady",), "w1", 1, wait=10.0)) == []

    assert [timeout for _, timeout in world.notifier.waits] == [4.0, 4.0, 2.0]
    assert world.clock.now() - start == timedelta(seconds=10)


async def test_a_nack_wakes_this_replicas_long_polls_only_for_a_retry_due_now(world: World):
    await world.add("due")
    await world.add("steady")  # backoff 1 s
    await world.add("gone")
    (due,), (later,), (gone,) = [await world.take(q) for q in ("due", "steady", "gone")]
    world.notifier.notified.clear()

    await world.nack([NackItem(LeaseRef(due.id, due.lease_token), "busy", retry_after=0.0),
                      NackItem(LeaseRef(later.id, later.lease_token), "busy"),
                      NackItem(LeaseRef(gone.id, gone.lease_token), "fatal", permanent=True)])

    assert world.notifier.notified == [["due"]]
