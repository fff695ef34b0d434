"""The chain's order, the method table, the settings of the pipeline, the connection wait."""

from __future__ import annotations

import time

import pytest

from broker.entities.auth import Permission
from broker.entities.rate import Rate
from broker.infra import settings as settings_mod
from broker.infra.pg.conn import wait_limit
from broker.interface.grpc import methods
from broker.interface.grpc.context import deadline
from broker.interface.grpc.interceptors import (
    AccessLogStage, AuthenticationStage, AuthorizationStage, DeadlineStage, ErrorStage, InFlightStage,
    MetricsStage, RateLimitStage, RequestIdStage, build_chain,
)
from broker.usecases.rate_limit import CALL_CLASSES, RateLimiter
from broker.v1 import admin_service_pb2, job_service_pb2


async def _principal(token):
    raise AssertionError


def test_chain_order_with_everything_on():
    chain = build_chain(authenticate=_principal, limiter=RateLimiter({"lease": Rate(1, 1)}),
                        in_flight=InFlightStage(10, 10))
    assert [type(s) for s in chain] == [
        RequestIdStage, AccessLogStage, MetricsStage, ErrorStage, InFlightStage, AuthenticationStage,
        AuthorizationStage, RateLimitStage, DeadlineStage]


def test_in_flight_bounds_are_settings_sized_to_the_machine():
    import os

    cores = os.cpu_count() or 1
    default = settings_mod.load({}).server
    assert (default.max_in_flight, default.max_long_polls) == (128 * cores, 512 * cores)
    s = settings_mod.load({"BROKER_MAX_IN_FLIGHT": "7", "BROKER_MAX_LONG_POLLS": "3"}).server
    assert (s.max_in_flight, s.max_long_polls) == (7, 3)
    for name in ("BROKER_MAX_IN_FLIGHT", "BROKER_MAX_LONG_POLLS"):
        for bad in ("0", "-1", "many"):
            with pytest.raises(settings_mod.SettingsError, match=name):
                settings_mod.load({name: bad})


def test_chain_leaves_out_what_is_switched_off():
    chain = build_chain(limiter=RateLimiter({}), access_log=False)
    assert [type(s) for s in chain] == [RequestIdStage, MetricsStage, ErrorStage, DeadlineStage]


def test_every_rpc_is_classified():
    names = set()
    for module, service in ((job_service_pb2, "JobService"), (admin_service_pb2, "AdminService")):
        desc = module.DESCRIPTOR.services_by_name[service]
        names |= {f"/{desc.full_name}/{m.name}" for m in desc.methods}
    assert names == set(methods.METHODS)
    assert all(info.rate_class in CALL_CLASSES for info in methods.METHODS.values())
    assert methods.info("/broker.v1.JobService/Unknown").permission is Permission.ADMIN
    assert methods.is_open("/grpc.health.v1.Health/Check") and not methods.is_open("/broker.v1.JobService/Lease")


def test_pipeline_settings_defaults_are_off():
    s = settings_mod.load({})
    assert not s.security.auth and s.security.tls_cert is None and s.rate_limits.rates == {} and s.log.access


def test_rate_limit_setting_format():
    rates = settings_mod.load({"BROKER_RATE_LIMITS": "enqueue=100/200, Lease=5,settle=0.5/3"}).rate_limits.rates
    assert {k: (r.per_second, r.burst) for k, r in rates.items()} == {
        "enqueue": (100, 200), "lease": (5, 5), "settle": (0.5, 3)}


@pytest.mark.parametrize("env, named", [
    ({"BROKER_RATE_LIMITS": "bulk=5"}, "BROKER_RATE_LIMITS"),
    ({"BROKER_RATE_LIMITS": "lease=-1"}, "BROKER_RATE_LIMITS"),
    ({"BROKER_RATE_LIMITS": "lease=5/0"}, "BROKER_RATE_LIMITS"),
    ({"BROKER_AUTH": "perhaps"}, "BROKER_AUTH"),
    ({"BROKER_AUTH_CACHE_TTL": "-1"}, "BROKER_AUTH_CACHE_TTL"),
    ({"BROKER_ACCESS_LOG": "loud"}, "BROKER_ACCESS_LOG"),
    ({"BROKER_TLS_CERT": "/no/such/file"}, "BROKER_TLS_CERT"),
])
def test_bad_pipeline_settings_name_the_variable(env, named):
    with pytest.raises(settings_mod.SettingsError, match=named):
        settings_mod.load(env)


def test_tls_settings_are_checked(tmp_path):
    cert, key, junk = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "j.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
    junk.write_text("hello")
    with pytest.raises(settings_mod.SettingsError, match="BROKER_TLS_KEY"):
        settings_mod.load({"BROKER_TLS_CERT": str(cert)})
    with pytest.raises(settings_mod.SettingsError, match="BROKER_TLS_KEY"):
        settings_mod.load({"BROKER_TLS_CERT": str(cert), "BROKER_TLS_KEY": str(junk)})
    with pytest.raises(settings_mod.SettingsError, match="BROKER_TLS_CLIENT_CA"):
        settings_mod.load({"BROKER_TLS_CLIENT_CA": str(cert)})
    ok = settings_mod.load({"BROKER_TLS_CERT": str(cert), "BROKER_TLS_KEY": str(key),
                            "BROKER_TLS_CLIENT_CA": str(cert)}).security
    assert (ok.tls_cert, ok.tls_key, ok.tls_client_ca) == (str(cert), str(key), str(cert))


def test_connection_wait_is_bounded_by_the_deadline():
    assert wait_limit(10.0) == 10.0
    token = deadline.set(time.monotonic() + 0.5)
    try:
        assert 0.4 < wait_limit(10.0) < 0.5
        assert wait_limit(0.2) == 0.2
    finally:
        deadline.reset(token)
    token = deadline.set(time.monotonic() - 1)
    try:
        assert wait_limit(10.0) == pytest.approx(0.001)
    finally:
        deadline.reset(token)
