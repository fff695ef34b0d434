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
