"""Ack with results (usecases/ack.py): each item's result is kept with its job, the bound follows
BROKER_MAX_RESULT_BYTES both ways, and a refused call changes nothing."""

from __future__ import annotations

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState
from broker.entities.lease import LeaseRef, Outcome
from broker.infra import settings
from broker.usecases.ack import AckItem
from tests.unit.conftest import World


async def _running(world: World, count: int = 1) -> list[LeaseRef]:
    await world.add(count=count)
    return [LeaseRef(job.id, job.lease_token) for job in await world.take(count=count)]


async def test_plain_leases_and_items_with_results_complete_together():
    world = World()
    plain, with_result = await _running(world, 2)

    results = await world.ack([plain], [AckItem(with_result, b"done")])

    assert [(r.job_id, r.outcome) for r in results] == [(plain.job_id, Outcome.OK), (with_result.job_id, Outcome.OK)]
    assert world.store.jobs[plain.job_id].result is None
    assert (world.store.jobs[with_result.job_id].state, world.store.jobs[with_result.job_id].result) == (
        JobState.SUCCEEDED, b"done")


async def test_the_result_bound_follows_its_setting_both_ways():
    result = b"r" * 70_000
    world = World(limits=settings.load({}).limits)
    [ref] = await _running(world)
    with pytest.raises(InvalidArgument) as caught:
        await world.ack([], [AckItem(ref, result)])
    assert caught.value.field == "items[0].result"
    assert world.store.jobs[ref.job_id].state is JobState.RUNNING  # nothing changed

    raised = World(limits=settings.load({"BROKER_MAX_RESULT_BYTES": "70000"}).limits)
    [ref] = await _running(raised)
    assert (await raised.ack([], [AckItem(ref, result)]))[0].outcome is Outcome.OK

    lowered = World(limits=settings.load({"BROKER_MAX_RESULT_BYTES": "3"}).limits)
    [ref] = await _running(lowered)
    with pytest.raises(InvalidArgument, match="4 bytes is over the limit of 3 bytes"):
        await lowered.ack([], [AckItem(ref, b"four")])


async def test_leases_and_items_together_are_one_batch():
    world = World(limits=settings.load({"BROKER_MAX_BATCH": "2", "BROKER_DEFAULT_PAGE_SIZE": "2"}).limits)
    refs = await _running(world, 2)
    with pytest.raises(InvalidArgument, match="3 is outside 1 to 2"):
        await world.ack(refs, [AckItem(refs[0], b"x")])
