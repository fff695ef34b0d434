"""Tracing is off unless asked; the standard OTLP variables turn it on, BROKER_OTEL decides."""

from __future__ import annotations

import pytest

from broker.infra import settings
from broker.infra.env import SettingsError


def endpoint(**env) -> str | None:
    return settings.load(env).observe.otel_endpoint


def test_off_by_default():
    assert endpoint() is None


def test_the_standard_variables_turn_it_on():
    assert endpoint(OTEL_EXPORTER_OTLP_ENDPOINT="http://otel:4318/") == "http://otel:4318/v1/traces"
    assert endpoint(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT="http://otel:9/t") == "http://otel:9/t"


def test_broker_otel_decides():
    assert endpoint(BROKER_OTEL="true") == "http://localhost:4318/v1/traces"
    assert endpoint(BROKER_OTEL="false", OTEL_EXPORTER_OTLP_ENDPOINT="http://otel:4318") is None
    with pytest.raises(SettingsError, match="BROKER_OTEL"):
        endpoint(BROKER_OTEL="maybe")
