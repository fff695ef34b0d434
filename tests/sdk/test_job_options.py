"""Enqueue options that mirror JobSpec fields reach the broker: the limit on lapsed leases."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from broker_client import AsyncClient, Client, JobRequest
from broker_client.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc


def test_max_lease_expiries_goes_on_the_wire_and_is_checked():
    assert JobRequest("q", "k", max_lease_expiries=3).to_spec().max_lease_expiries == 3
    assert JobRequest("q", "k").to_spec().max_lease_expiries == 0  # the queue's default
    with pytest.raises(ValueError, match="max_lease_expiries"):
        JobRequest("q", "k", max_lease_expiries=0)


async def test_max_lease_expiries_reaches_the_broker_from_both_clients(broker_server, queue):
    async with AsyncClient(broker_server.address) as client:
        from_async = await client.enqueue(queue, "k", max_lease_expiries=2)

    def sync() -> tuple:  # in a thread: the in-process broker shares this test's event loop
        with Client(broker_server.address) as client:
            return client.enqueue(queue, "k", max_lease_expiries=7), client.enqueue(queue, "k")

    from_sync, default = await asyncio.to_thread(sync)
    async with grpc.aio.insecure_channel(broker_server.address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        limits = [(await admin.GetJob(apb.GetJobRequest(job_id=r.job_id))).job.max_lease_expiries
                  for r in (from_async, from_sync, default)]
    assert limits == [2, 7, 5]


async def test_a_concurrency_key_reaches_the_broker_from_both_clients_and_is_held_to_its_queue_limit(
        broker_server, queue):
    from broker_client.admin import AsyncAdminClient

    assert JobRequest("q", "k", concurrency_key="c-1").to_spec().concurrency_key == "c-1"
    async with AsyncAdminClient(broker_server.address) as admin:
        limited = await admin.update_queue(queue, per_key_concurrency=1, rate_limit=50.0)
        assert (limited.per_key_concurrency, limited.rate_limit, limited.rate_burst) == (1, 50.0, 50)
    async with AsyncClient(broker_server.address) as client:
        from_async = await client.enqueue(queue, "k", concurrency_key="customer-1")

    def sync() -> tuple:  # in a thread: the in-process broker shares this test's event loop
        with Client(broker_server.address) as client:
            return (client.enqueue(queue, "k", concurrency_key="customer-1"),
                    client.enqueue_batch([JobRequest(queue, "k", concurrency_key="customer-2")])[0])

    from_sync, batched = await asyncio.to_thread(sync)
    async with grpc.aio.insecure_channel(broker_server.address) as channel:
        admin = admin_service_pb2_grpc.AdminServiceStub(channel)
        keys = [(await admin.GetJob(apb.GetJobRequest(job_id=r.job_id))).job.concurrency_key
                for r in (from_async, from_sync, batched)]
        from broker_client.v1 import job_service_pb2 as jpb, job_service_pb2_grpc
        leased = (await job_service_pb2_grpc.JobServiceStub(channel).Lease(
            jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=10))).jobs
    assert keys == ["customer-1", "customer-1", "customer-2"]
    assert sorted(j.job.concurrency_key for j in leased) == ["customer-1", "customer-2"]  # one per key
