"""The broker's OpenTelemetry export: with OTEL_EXPORTER_OTLP_ENDPOINT set, its RPC spans reach
an OTLP/HTTP collector on loopback in the producer's trace; without it, no tracing stage."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from broker.interface.grpc.interceptors import TracingStage, build_chain
from broker.v1 import job_service_pb2 as pb, job_service_pb2_grpc
from broker_client import AsyncClient, Worker
from tests.brokers import running_broker
from tests.e2e.helpers import spec
from tests.otel import app_tracer_provider, collector
from tests.sdk.helpers import eventually, running

SERVICE = "broker.v1.JobService/"
OTHER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_rpc_spans_reach_the_collector_in_the_producers_trace(own_database, queue):
    done = asyncio.Event()
    worker = Worker(queue, concurrency=1, poll_wait=1)

    @worker.handler("ok")
    async def ok(ctx):
        done.set()

    async with collector() as otlp, running_broker(own_database, OTEL_EXPORTER_OTLP_ENDPOINT=otlp.endpoint) as broker:
        with app_tracer_provider() as sdk_spans:
            async with AsyncClient(broker.grpc_address) as client:
                await client.enqueue(queue, "ok")
            async with running(worker, broker.grpc_address):
                await asyncio.wait_for(done.wait(), 15)
            [producer] = [s for s in sdk_spans.get_finished_spans() if s.name == f"enqueue {queue}"]
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:  # a caller's context in metadata
            await job_service_pb2_grpc.JobServiceStub(channel).Lease(
                pb.LeaseRequest(queues=[queue], max_jobs=1, worker_id="w"),
                metadata=(("traceparent", f"00-{OTHER_TRACE}-00f067aa0ba902b7-01"),))

        def arrived() -> bool:
            broker.tracing.flush()
            return bool(otlp.named(SERVICE + "Ack")) and len(otlp.named(SERVICE + "Lease")) >= 2
        await eventually(arrived, timeout=20)
    [enqueue] = otlp.named(SERVICE + "Enqueue")
    assert enqueue.trace_id.hex() == format(producer.context.trace_id, "032x")
    assert enqueue.parent_span_id.hex() == format(producer.context.span_id, "016x")
    assert enqueue.kind == Span.SPAN_KIND_SERVER
    attributes = {a.key: a.value for a in enqueue.attributes}
    assert attributes["rpc.system"].string_value == "grpc" and attributes["rpc.method"].string_value == "Enqueue"
    assert attributes["rpc.grpc.status_code"].int_value == 0
    assert OTHER_TRACE in {span.trace_id.hex() for span in otlp.named(SERVICE + "Lease")}
    [(resource, _)] = [(r, s) for r, s in otlp.spans if s.name == SERVICE + "Enqueue"]
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "broker"


async def test_a_batchs_jobs_are_links(own_database, queue):
    parents = [f"00-{i:032x}-{i:016x}-01" for i in (1, 2)]
    jobs = [spec(queue) for _ in parents]
    for job, parent in zip(jobs, parents):
        job.headers["traceparent"] = parent
    async with collector() as otlp, running_broker(own_database, BROKER_OTEL="true",
                                                   OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=otlp.endpoint + "/v1/traces") as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            stub = job_service_pb2_grpc.JobServiceStub(channel)
            await stub.EnqueueBatch(pb.EnqueueBatchRequest(jobs=jobs))
            with pytest.raises(grpc.aio.AioRpcError):  # the caller's fault: a status code, no error
                await stub.Enqueue(pb.EnqueueRequest(job=spec("bad queue")))

        def arrived() -> bool:
            broker.tracing.flush()
            return bool(otlp.named(SERVICE + "EnqueueBatch")) and bool(otlp.named(SERVICE + "Enqueue"))
        await eventually(arrived, timeout=20)
    [batch] = otlp.named(SERVICE + "EnqueueBatch")
    assert [link.trace_id.hex() for link in batch.links] == [f"{i:032x}" for i in (1, 2)]
    [refused] = otlp.named(SERVICE + "Enqueue")
    codes = {a.key: a.value.int_value for a in refused.attributes if a.key == "rpc.grpc.status_code"}
    assert codes == {"rpc.grpc.status_code": grpc.StatusCode.INVALID_ARGUMENT.value[0]}
    assert refused.status.code == refused.status.STATUS_CODE_UNSET


async def test_off_by_default_no_tracing_stage(broker_server):
    assert broker_server.tracing is None and broker_server.settings.observe.otel_endpoint is None
    assert not any(isinstance(stage, TracingStage) for stage in build_chain())
