"""A broker killed (SIGKILL) in the middle of a delivery: the delivery's lease lapses, another
broker's reaper retries it, and the receiver gets it (at least once, the same webhook-id)."""

from __future__ import annotations

import uuid

import grpc

from broker.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc, callback_pb2 as cpb
from broker.v1 import job_pb2, job_service_pb2_grpc
from tests.callback_receiver import SECRET, receiving
from tests.e2e.test_callbacks import FAST, delivery_of, succeed
from tests.support import spawn_broker

# The request outlives the kill by far; the lease lapses 5 s after the timeout.
ENV = {**FAST, "BROKER_CALLBACK_ALLOW_PRIVATE": "true", "BROKER_CALLBACK_TIMEOUT": "3"}


async def test_a_broker_killed_mid_delivery_still_delivers(own_database, queue):
    path = f"p-{uuid.uuid4().hex[:8]}"
    async with receiving() as receiver:
        receiver.hang.add(path)
        with spawn_broker(own_database, env=ENV) as one:
            async with grpc.aio.insecure_channel(one.address) as channel:
                admin = admin_service_pb2_grpc.AdminServiceStub(channel)
                await admin.CreateSubscription(cpb.CreateSubscriptionRequest(subscription=cpb.SubscriptionSpec(
                    name=path, url=receiver.url(path), events=["job.succeeded"], queue=queue, secrets=[SECRET])))
                job_id = await succeed(job_service_pb2_grpc.JobServiceStub(channel), queue)
                [first] = await receiver.wait_for(path, 1)
                one.process.kill()  # mid-delivery: the request is open, the lease held
                one.process.wait()
        receiver.hang.discard(path)
        with spawn_broker(own_database, env=ENV) as two:
            async with grpc.aio.insecure_channel(two.address) as channel:
                admin = admin_service_pb2_grpc.AdminServiceStub(channel)
                delivery = await delivery_of(admin, job_id, job_pb2.JOB_STATE_SUCCEEDED, timeout=60)
                got = receiver.of(path)
                assert [r.status for r in got] == [0, 200]  # the cut one, then the delivered one
                assert {r.headers["webhook-id"] for r in got} == {delivery.id} and got[1].verified[SECRET]
                full = await admin.GetJob(apb.GetJobRequest(job_id=delivery.id))
                assert [e.error for e in full.job.errors] == ["lease expired"] and full.job.attempt == 2
