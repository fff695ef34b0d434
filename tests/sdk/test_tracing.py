"""The SDK's OpenTelemetry spans against the real broker, recorded by the OTel SDK's in-memory
exporter: the trace context travels producer -> job headers -> worker; a failure is recorded;
without a tracer provider nothing is added to a job."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from broker_client import AsyncClient, Client, JobRequest, Worker
from tests.otel import app_tracer_provider

from .helpers import eventually, running


@pytest.fixture
def spans():
    with app_tracer_provider() as exporter:
        yield exporter


def named(exporter: InMemorySpanExporter, name: str):
    return [s for s in exporter.get_finished_spans() if s.name == name]


def worker_for(queue: str, seen: dict) -> Worker:
    worker = Worker(queue, concurrency=2, poll_wait=1)

    @worker.handler("ok")
    async def ok(ctx):
        seen[ctx.id] = (dict(ctx.headers), trace.get_current_span().get_span_context())

    @worker.handler("sync")
    def sync(ctx):
        seen[ctx.id] = (dict(ctx.headers), trace.get_current_span().get_span_context())

    @worker.handler("boom")
    async def boom(ctx):
        raise ValueError("failed on purpose")
    return worker


async def test_producer_and_consumer_spans_share_one_trace(broker_server, queue, spans):
    seen: dict = {}
    async with AsyncClient(broker_server.address) as client:
        made = await client.enqueue(queue, "ok", {"n": 1})
    async with running(worker_for(queue, seen), broker_server.address):
        await eventually(lambda: named(spans, f"process {queue}"))
    [producer] = named(spans, f"enqueue {queue}")
    [consumer] = named(spans, f"process {queue}")
    assert producer.kind is SpanKind.PRODUCER and consumer.kind is SpanKind.CONSUMER
    assert consumer.context.trace_id == producer.context.trace_id
    assert consumer.parent.span_id == producer.context.span_id
    headers, current = seen[made.job_id]
    assert headers["traceparent"].split("-")[1] == format(producer.context.trace_id, "032x")
    assert current.span_id == consumer.context.span_id  # the handler runs inside the span
    assert producer.attributes["messaging.system"] == "broker"
    assert producer.attributes["messaging.destination.name"] == queue
    assert producer.attributes["messaging.message.id"] == made.job_id
    attrs = consumer.attributes
    assert (attrs["messaging.message.id"], attrs["broker.job.kind"], attrs["broker.job.attempt"]) == (made.job_id, "ok", 1)
    assert [e.attributes["broker.settle"] for e in consumer.events] == ["ack"]
    assert consumer.status.status_code is StatusCode.UNSET


async def test_a_failed_attempt_records_the_exception(broker_server, queue, spans):
    def produce() -> None:  # the sync client and a batch, off the loop the broker runs on
        with Client(broker_server.address) as client:
            client.enqueue_batch([JobRequest(queue, "boom", max_attempts=1), JobRequest(queue, "sync")])
    await asyncio.to_thread(produce)
    seen: dict = {}
    async with running(worker_for(queue, seen), broker_server.address):
        await eventually(lambda: len(named(spans, f"process {queue}")) == 2)
    [producer] = named(spans, f"enqueue {queue}")
    assert producer.attributes["messaging.batch.message_count"] == 2
    by_kind = {s.attributes["broker.job.kind"]: s for s in named(spans, f"process {queue}")}
    failed, sync = by_kind["boom"], by_kind["sync"]
    assert {failed.context.trace_id, sync.context.trace_id} == {producer.context.trace_id}
    assert failed.status.status_code is StatusCode.ERROR and "ValueError" in failed.status.description
    assert [e.name for e in failed.events] == ["exception", "settle"]
    assert failed.events[0].attributes["exception.type"] == "ValueError"
    assert failed.events[1].attributes["broker.settle"] == "nack"
    [(_, current)] = seen.values()
    assert current.span_id == sync.context.span_id  # a sync handler's thread sees the span too


async def test_the_callers_own_traceparent_is_kept(broker_server, queue, spans):
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    seen: dict = {}
    async with AsyncClient(broker_server.address) as client:
        made = await client.enqueue(queue, "ok", headers={"traceparent": mine})
    async with running(worker_for(queue, seen), broker_server.address):
        await eventually(lambda: made.job_id in seen)
    assert seen[made.job_id][0]["traceparent"] == mine
    await eventually(lambda: named(spans, f"process {queue}"))
    [consumer] = named(spans, f"process {queue}")
    assert format(consumer.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"


async def test_off_without_a_tracer_provider(broker_server, queue):
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    seen: dict = {}
    async with AsyncClient(broker_server.address) as client:
        made = await client.enqueue(queue, "ok", headers={"x": "1"})
    async with running(worker_for(queue, seen), broker_server.address):
        await eventually(lambda: made.job_id in seen)
    headers, current = seen[made.job_id]
    assert headers == {"x": "1"} and not current.is_valid
