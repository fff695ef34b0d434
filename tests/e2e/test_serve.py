"""`broker serve` as a newcomer runs it: no DATABASE_URL, an embedded PostgreSQL; reflection on."""

import os
import subprocess
import sys
import tempfile

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from broker.v1 import job_service_pb2 as pb
from broker.v1 import job_service_pb2_grpc
from tests.e2e.helpers import spec
from tests.support import BrokerProcess, free_port

pytestmark = pytest.mark.slow


@pytest.fixture
def embedded_broker():
    data_dir = tempfile.mkdtemp(prefix="broker-data-")
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(BROKER_DATA_DIR=data_dir, BROKER_LOG_LEVEL="WARNING")
    grpc_port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "serve", "--grpc-addr", f"127.0.0.1:{grpc_port}",
         "--http-addr", f"127.0.0.1:{http_port}"], env=env)
    broker = BrokerProcess(process, grpc_port, http_port, "")
    try:
        broker.wait_healthy(timeout=60)
        yield broker, data_dir
    finally:
        assert broker.stop() == 0


async def test_serve_without_database_url_uses_an_embedded_postgres(embedded_broker):
    broker, data_dir = embedded_broker
    assert os.listdir(data_dir)  # the server's files live in the data directory
    async with grpc.aio.insecure_channel(broker.address) as channel:
        jobs = job_service_pb2_grpc.JobServiceStub(channel)
        created = await jobs.Enqueue(pb.EnqueueRequest(job=spec("newcomer")))
        leased = await jobs.Lease(pb.LeaseRequest(queues=["newcomer"], worker_id="w", max_jobs=1))
        assert [j.job.id for j in leased.jobs] == [created.job_id]


async def test_reflection_lists_the_services(broker_server):
    async with grpc.aio.insecure_channel(broker_server.grpc_address) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        responses = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        async for response in responses:
            names = {s.name for s in response.list_services_response.service}
            break
    assert {"broker.v1.JobService", "broker.v1.AdminService", "grpc.health.v1.Health"} <= names
