"""The health service's List answers what Check answers, for every service, as it changes."""

from __future__ import annotations

from grpc_health.v1 import health_pb2

from broker.interface.grpc.server import SERVICES, Health

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


class _Context:
    async def abort(self, code, details=""):
        raise AssertionError(code)


async def listed(health: Health) -> dict[str, int]:
    response = await health.servicer.List(health_pb2.HealthListRequest(), _Context())
    return {name: s.status for name, s in response.statuses.items()}


async def checked(health: Health, name: str) -> int:
    return (await health.servicer.Check(health_pb2.HealthCheckRequest(service=name), _Context())).status


async def test_list_follows_the_database_and_shutdown():
    health = Health()
    assert await listed(health) == {"": SERVING}  # as Check answers before the first database check

    for serving, status in ((True, SERVING), (False, NOT_SERVING), (True, SERVING)):
        await health.set(serving)
        assert await listed(health) == dict.fromkeys(("", *SERVICES), status)
        assert [await checked(health, n) for n in ("", *SERVICES)] == [status] * 3

    await health.shutdown()
    await health.set(True)  # a late health check changes nothing now
    assert await listed(health) == dict.fromkeys(("", *SERVICES), NOT_SERVING)
    assert [await checked(health, n) for n in ("", *SERVICES)] == [NOT_SERVING] * 3
