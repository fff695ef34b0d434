"""TLS and mutual TLS on the gRPC port."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests import tls
from tests.brokers import fresh_database, running_broker

pytestmark = pytest.mark.skipif(not tls.available(), reason="needs the openssl command")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return tls.make(tmp_path_factory.mktemp("pki"))


async def check(address: str, credentials=None) -> grpc.StatusCode:
    channel = (grpc.aio.secure_channel(address, credentials) if credentials
               else grpc.aio.insecure_channel(address))
    async with channel:
        try:
            await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=3)
        except grpc.aio.AioRpcError as err:
            return err.code()
    return grpc.StatusCode.OK


async def test_tls(database_url, pki):
    env = {"BROKER_TLS_CERT": str(pki.server_cert), "BROKER_TLS_KEY": str(pki.server_key)}
    async with fresh_database(database_url) as url, running_broker(url, **env) as broker:
        trusted = grpc.ssl_channel_credentials(pki.ca.read_bytes())
        assert await check(broker.grpc_address, trusted) == grpc.StatusCode.OK
        assert await check(broker.grpc_address) == grpc.StatusCode.UNAVAILABLE  # plaintext is refused
        stranger = grpc.ssl_channel_credentials(pki.other_ca.read_bytes())
        assert await check(broker.grpc_address, stranger) == grpc.StatusCode.UNAVAILABLE


async def test_mutual_tls(database_url, pki):
    env = {"BROKER_TLS_CERT": str(pki.server_cert), "BROKER_TLS_KEY": str(pki.server_key),
           "BROKER_TLS_CLIENT_CA": str(pki.ca)}
    async with fresh_database(database_url) as url, running_broker(url, **env) as broker:
        ca = pki.ca.read_bytes()
        with_cert = grpc.ssl_channel_credentials(ca, pki.client_key.read_bytes(), pki.client_cert.read_bytes())
        assert await check(broker.grpc_address, with_cert) == grpc.StatusCode.OK
        assert await check(broker.grpc_address, grpc.ssl_channel_credentials(ca)) == grpc.StatusCode.UNAVAILABLE
        foreign = grpc.ssl_channel_credentials(ca, pki.other_key.read_bytes(), pki.other_cert.read_bytes())
        assert await check(broker.grpc_address, foreign) == grpc.StatusCode.UNAVAILABLE


async def test_an_sdk_worker_session_over_mutual_tls_with_an_api_key(database_url, pki, queue):
    """The SDK's worker (a WorkerSession stream) and producer with a client certificate and a
    bearer token: every call on the stream carries the stream's credentials."""
    from broker_client import AsyncClient, ConnectionOptions, TlsOptions, Worker

    from tests.brokers import key_admin
    from tests.sdk.helpers import eventually, running

    env = {"BROKER_TLS_CERT": str(pki.server_cert), "BROKER_TLS_KEY": str(pki.server_key),
           "BROKER_TLS_CLIENT_CA": str(pki.ca), "BROKER_AUTH": "true"}
    async with fresh_database(database_url) as url:
        async with key_admin(url) as admin:
            producer = (await admin.create("tls-producer", "producer")).token
            worker_token = (await admin.create("tls-worker", "worker")).token
        async with running_broker(url, **env) as broker:
            tls_options = TlsOptions.from_files(str(pki.ca), str(pki.client_cert), str(pki.client_key))
            async with AsyncClient(options=ConnectionOptions(target=broker.grpc_address, tls=tls_options,
                                                             token=producer)) as client:
                for _ in range(5):
                    await client.enqueue(queue, "tls-job")
            done = []
            worker = Worker(queue, concurrency=2)

            @worker.handler("tls-job")
            async def handle(ctx) -> None:
                done.append(ctx.id)

            async with running(worker, broker.grpc_address,
                               options=ConnectionOptions(target=broker.grpc_address, tls=tls_options,
                                                         token=worker_token)):
                await eventually(lambda: len(done) == 5)
            assert worker.stats.succeeded == 5 and worker.stats.lease_failures == 0
