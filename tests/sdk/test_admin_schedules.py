"""The admin clients' schedule calls against a real broker on loopback: records out, the
broker's refusals as the SDK's errors, and a trigger that enqueues a job of the template."""

from __future__ import annotations

import uuid

import pytest

from broker_client import AdminClient, AsyncAdminClient, InvalidRequest, NotFound
from broker_client.errors import AlreadyExists


@pytest.fixture
async def admin_client(broker_server):
    async with AsyncAdminClient(broker_server.grpc_address) as client:
        yield client


def name() -> str:
    return f"sdk-{uuid.uuid4().hex[:10]}"


async def test_create_get_pause_resume_trigger_delete(admin_client, queue):
    made = await admin_client.create_schedule(name(), "*/5 * * * *", queue, "report", time_zone="Europe/Berlin")
    assert (made.cron, made.time_zone, made.queue, made.kind, made.paused) == (
        "*/5 * * * *", "Europe/Berlin", queue, "report", False)
    assert made.next_fire_at is not None and made.next_fire_at.minute % 5 == 0
    assert (await admin_client.get_schedule(made.name)).name == made.name
    assert made.name in {s.name for s in await admin_client.list_schedules()}
    assert (await admin_client.pause_schedule(made.name)).paused
    assert not (await admin_client.resume_schedule(made.name)).paused
    job_id = await admin_client.trigger_schedule(made.name)
    job = (await admin_client.get_job(job_id)).job
    assert (job.queue, job.kind) == (queue, "report")
    assert (await admin_client.get_schedule(made.name)).last_job_id == job_id
    await admin_client.delete_schedule(made.name)
    with pytest.raises(NotFound):
        await admin_client.get_schedule(made.name)


async def test_refusals_are_the_sdks_errors_and_change_nothing(admin_client, queue):
    taken = await admin_client.create_schedule(name(), "@hourly", queue, "k")
    with pytest.raises(AlreadyExists):
        await admin_client.create_schedule(taken.name, "@daily", queue, "k")
    assert (await admin_client.get_schedule(taken.name)).cron == "@hourly"
    bad = name()
    with pytest.raises(InvalidRequest, match="cron"):
        await admin_client.create_schedule(bad, "not a cron", queue, "k")
    with pytest.raises(InvalidRequest, match="time_zone"):
        await admin_client.create_schedule(bad, "@hourly", queue, "k", time_zone="Mars/Olympus")
    assert bad not in {s.name for s in await admin_client.list_schedules()}


async def test_the_blocking_client_does_the_same(broker_server, queue):
    import asyncio

    def run() -> tuple[str, bool]:
        with AdminClient(broker_server.grpc_address) as client:
            made = client.create_schedule(name(), "0 3 * * *", queue, "nightly")
            paused = client.pause_schedule(made.name).paused
            client.delete_schedule(made.name)
            return made.name, paused

    made, paused = await asyncio.to_thread(run)
    assert paused and made.startswith("sdk-")
