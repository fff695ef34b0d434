"""OpenTelemetry for the tracing tests: the application's tracer provider (spans kept in memory)
and a tiny OTLP/HTTP collector on loopback that decodes what the broker exports."""

from __future__ import annotations

import contextlib

from aiohttp import web
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (ExportTraceServiceRequest,
                                                                      ExportTraceServiceResponse)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.util._once import Once


@contextlib.contextmanager
def app_tracer_provider():
    """A tracer provider set as an application would, exporting to memory; the global one is put
    back afterwards (OTel lets a process set it once: this resets that guard)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE
    trace._TRACER_PROVIDER_SET_ONCE = Once()
    trace.set_tracer_provider(provider)
    try:
        yield exporter
    finally:
        trace._TRACER_PROVIDER, trace._TRACER_PROVIDER_SET_ONCE = saved
        provider.shutdown()


class Collector:
    """Accepts OTLP/HTTP protobuf exports at /v1/traces; `spans` as (resource, span) pairs."""

    def __init__(self) -> None:
        self.spans: list = []
        self.endpoint = ""

    async def export(self, request: web.Request) -> web.Response:
        message = ExportTraceServiceRequest.FromString(await request.read())
        for resource_spans in message.resource_spans:
            for scope in resource_spans.scope_spans:
                self.spans.extend((resource_spans.resource, span) for span in scope.spans)
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    def named(self, name: str) -> list:
        return [span for _, span in self.spans if span.name == name]


@contextlib.asynccontextmanager
async def collector():
    receiver = Collector()
    app = web.Application()
    app.router.add_post("/v1/traces", receiver.export)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.endpoint = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    try:
        yield receiver
    finally:
        await runner.cleanup()
