"""OpenTelemetry for the broker's RPC spans: where they go, and the OTel SDK that sends them.

Off unless asked: `BROKER_OTEL=true`, or one of the standard `OTEL_EXPORTER_OTLP_ENDPOINT` /
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` set (`BROKER_OTEL=false` keeps it off even then). On, the
broker sets up its own tracer provider (the `otel` extra: opentelemetry-sdk and the OTLP/HTTP
exporter) with a batch processor, and the request pipeline gets its tracing stage
(interface/grpc/interceptors/tracing.py). Off, nothing is imported and the stage is not in the
chain. The exporter reads the other standard OTEL_EXPORTER_OTLP_* variables (headers, timeout)
itself; OTEL_SERVICE_NAME names the service (default `broker`)."""

from __future__ import annotations

import os
from typing import Any

from broker.infra.env import Env, SettingsError, boolean

DEFAULT_ENDPOINT = "http://localhost:4318"  # the OTLP/HTTP default


def read_otel_endpoint(e: Env) -> str | None:
    """The OTLP/HTTP traces URL the broker exports to, or None (tracing off)."""
    traces, base = e.env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), e.env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if not e.get("BROKER_OTEL", bool(traces or base), boolean):
        return None
    if traces:
        return traces
    return (base or DEFAULT_ENDPOINT).rstrip("/") + "/v1/traces"  # as the standard exporter does


def open_tracing(endpoint: str | None, version: str) -> Tracing | None:
    """The broker's tracing when `endpoint` (ObserveSettings.otel_endpoint) is set, else None."""
    return Tracing(endpoint, version) if endpoint else None


class Tracing:
    """The broker's tracer provider, exporting to `endpoint`; `tracer` is the pipeline's."""

    def __init__(self, endpoint: str, version: str) -> None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            raise SettingsError("tracing is on (BROKER_OTEL / OTEL_EXPORTER_OTLP_ENDPOINT) but the OTel SDK "
                                "is missing: install the broker's 'otel' extra") from exc
        attributes = {"service.version": version}
        if not os.environ.get("OTEL_SERVICE_NAME"):
            attributes["service.name"] = "broker"
        self.provider = TracerProvider(resource=Resource.create(attributes))
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
        self.tracer: Any = self.provider.get_tracer("broker", version)

    def flush(self) -> bool:
        return self.provider.force_flush()

    def shutdown(self) -> None:
        """Sends what is still queued (bounded by the exporter's timeout), then stops."""
        self.provider.shutdown()
