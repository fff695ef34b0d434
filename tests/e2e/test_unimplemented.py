"""No method, served or not, answers INTERNAL or UNKNOWN for want of an implementation: each
method the server serves answers an empty request with a status a client can act on, and a
method it does not serve (or a service it does not have) is UNIMPLEMENTED."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2

from broker import app
from broker.v1 import admin_service_pb2, job_service_pb2
from tests.conftest import broker_settings

NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
SERVED = [
    *((s, m) for f in (job_service_pb2, admin_service_pb2) for s in f.DESCRIPTOR.services_by_name.values()
      for m in s.methods),
    *((s, m) for f in (health_pb2, reflection_pb2) for s in f.DESCRIPTOR.services_by_name.values()
      for m in s.methods),
]
NOT_SERVED = [
    "/broker.v1.JobService/NoSuchMethod",
    "/broker.v1.AdminService/DropEverything",
    "/no.such.Service/Call",
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",  # only v1alpha is served
    "/grpc.health.v1.Health/NoSuchMethod",
    "/",
    "/broker.v1.JobService/",
]


async def status_of(channel: grpc.aio.Channel, service, method) -> grpc.StatusCode:
    """The status of a call of `method` with an empty request (a stream that ends at once)."""
    path = f"/{service.full_name}/{method.name}"
    identity = (lambda b: b)
    try:
        if method.client_streaming:
            call = channel.stream_stream(path, request_serializer=identity, response_deserializer=identity)(
                iter(()), timeout=5)
            async for _ in call:
                pass
            return await call.code()
        if method.server_streaming:
            call = channel.unary_stream(path, request_serializer=identity, response_deserializer=identity)(
                b"", timeout=5)
            await call.read()  # the first answer (health Watch then waits for changes)
            call.cancel()
            return grpc.StatusCode.OK
        await channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)(
            b"", timeout=5)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        return exc.code()


async def unary_status(channel: grpc.aio.Channel, path: str) -> grpc.StatusCode:
    identity = (lambda b: b)
    try:
        await channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)(
            b"", timeout=5)
        return grpc.StatusCode.OK
    except grpc.aio.AioRpcError as exc:
        return exc.code()


async def test_every_served_method_answers_something_actionable(channel):
    found = {f"{s.name}/{m.name}": await status_of(channel, s, m) for s, m in SERVED}
    assert not {name: code for name, code in found.items() if code in NEVER}, found


@pytest.mark.parametrize("path", NOT_SERVED)
async def test_a_method_the_server_does_not_have_is_unimplemented(channel, path):
    assert await unary_status(channel, path) == grpc.StatusCode.UNIMPLEMENTED


async def test_health_list_reports_every_service(channel):
    listed = await health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest())
    serving = health_pb2.HealthCheckResponse.SERVING
    assert {name: s.status for name, s in listed.statuses.items()} == {
        "": serving, "broker.v1.JobService": serving, "broker.v1.AdminService": serving}


async def test_with_authentication_on_too(own_database):
    broker = await app.start(broker_settings(own_database, BROKER_AUTH="true"))
    try:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            found = {f"{s.name}/{m.name}": await status_of(channel, s, m) for s, m in SERVED}
            assert not {name: code for name, code in found.items() if code in NEVER}, found
            for path in NOT_SERVED:
                assert await unary_status(channel, path) == grpc.StatusCode.UNIMPLEMENTED, path
            listed = await health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest())
            assert len(listed.statuses) == 3
    finally:
        await broker.stop(grace=1)
