"""The bound on queue names per Lease or Stats call (BROKER_MAX_QUEUE_NAMES, default 100): over
it, INVALID_ARGUMENT before any name is looked at, on unary calls and worker sessions alike."""

from __future__ import annotations

import grpc
import pytest

from broker.infra import settings as settings_mod
from broker.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc, job_service_pb2 as pb
from tests.brokers import running_broker
from tests.e2e.helpers import duration
from tests.e2e.test_session import Session

INVALID = grpc.StatusCode.INVALID_ARGUMENT


async def test_a_session_lease_naming_too_many_queues_is_refused(jobs, queue):
    session = Session(jobs)
    names = [f"{queue}-{i}" for i in range(101)]
    answer = await session.ask(lease=pb.LeaseRequest(queues=names, worker_id="w", max_jobs=1, wait=duration(5)))
    assert answer.error.code == INVALID.value[0]
    assert answer.error.message == "queues: 101 queue names; at most 100 per call"
    ok = await session.ask(lease=pb.LeaseRequest(queues=names[:100], worker_id="w", max_jobs=1))
    assert ok.WhichOneof("result") == "lease"
    await session.close()


async def test_the_bound_is_a_setting(own_database, queue):
    from broker.v1 import job_service_pb2_grpc

    async with running_broker(own_database, BROKER_MAX_QUEUE_NAMES="2") as broker, \
            grpc.aio.insecure_channel(broker.grpc_address) as channel:
        jobs, admin = job_service_pb2_grpc.JobServiceStub(channel), admin_service_pb2_grpc.AdminServiceStub(channel)
        three = [queue, queue + "-b", queue + "-c"]
        for call in (jobs.Lease(pb.LeaseRequest(queues=three, worker_id="w", max_jobs=1)),
                     admin.Stats(apb.StatsRequest(queues=three))):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call
            assert err.value.code() == INVALID and "at most 2 per call" in err.value.details()
        assert list((await jobs.Lease(pb.LeaseRequest(queues=three[:2], worker_id="w", max_jobs=1))).jobs) == []
        await admin.Stats(apb.StatsRequest(queues=three[:2]))


def test_the_setting_is_checked():
    assert settings_mod.load({}).limits.max_queue_names == 100
    for bad in ("0", "-5", "lots"):
        with pytest.raises(settings_mod.SettingsError, match="BROKER_MAX_QUEUE_NAMES"):
            settings_mod.load({"BROKER_MAX_QUEUE_NAMES": bad})
