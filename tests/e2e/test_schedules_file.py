"""BROKER_SCHEDULES_FILE at start-up: replicas starting at once apply it once; a changed file
updates and removes what it declared, and leaves the API's schedules alone."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from broker.infra.env import SettingsError
from broker.v1 import admin_service_pb2 as apb
from broker.v1 import job_pb2
from tests.brokers import running_broker

pytestmark = pytest.mark.slow

FILE = '''
[[schedules]]
name = "nightly"
cron = "0 3 * * *"
time_zone = "America/New_York"
job = {{ queue = "{queue}", kind = "{kind}" }}
{extra}
'''
HOURLY = '''
[[schedules]]
name = "hourly"
cron = "@hourly"
job = {{ queue = "{queue}", kind = "ping" }}
'''


async def listed(broker, create_one: bool = False) -> dict[str, apb.Schedule]:
    import grpc

    from broker.v1 import admin_service_pb2_grpc

    async with grpc.aio.insecure_channel(broker.grpc_address) as ch:
        stub = admin_service_pb2_grpc.AdminServiceStub(ch)
        if create_one:
            await stub.CreateSchedule(apb.CreateScheduleRequest(schedule=apb.ScheduleSpec(
                name="api-made", cron="@daily", job=job_pb2.JobSpec(queue="q", kind="k"))))
        return {s.spec.name: s for s in (await stub.ListSchedules(apb.ListSchedulesRequest())).schedules}


async def test_the_file_is_the_desired_state(own_database, queue, tmp_path):
    path = tmp_path / "schedules.toml"
    path.write_text(FILE.format(queue=queue, kind="report", extra=HOURLY.format(queue=queue)))
    env = {"BROKER_SCHEDULES_FILE": str(path)}
    async with contextlib.AsyncExitStack() as stack:  # three replicas starting at once
        brokers = await asyncio.gather(*(stack.enter_async_context(running_broker(own_database, **env))
                                         for _ in range(3)))
        found = await listed(brokers[0], create_one=True)
        assert sorted(found) == ["api-made", "hourly", "nightly"]
        assert found["nightly"].declared and not found["api-made"].declared
        first_next = found["nightly"].next_fire_at
    # Changed job (same cron: the next fire time stays), hourly removed.
    path.write_text(FILE.format(queue=queue, kind="report-v2", extra=""))
    async with running_broker(own_database, **env) as broker:
        found = await listed(broker)
        assert sorted(found) == ["api-made", "nightly"]
        assert found["nightly"].spec.job.kind == "report-v2" and found["nightly"].next_fire_at == first_next
    # A bad file stops start-up and changes nothing.
    path.write_text(FILE.format(queue=queue, kind="x", extra="").replace("America/New_York", "Nowhere/City"))
    with pytest.raises(SettingsError, match=r"BROKER_SCHEDULES_FILE=.*schedules\[0\]\.time_zone"):
        async with running_broker(own_database, **env):
            pass
    async with running_broker(own_database) as broker:
        assert (await listed(broker))["nightly"].spec.job.kind == "report-v2"
