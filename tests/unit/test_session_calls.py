"""A worker session's call runs the same chain of stages as its unary twin, and its answer maps
errors through status.py alike: code, message and RetryInfo delay, with the call's own request
id (never the stream's)."""

from __future__ import annotations

from broker.entities import errors
from broker.interface.grpc.interceptors import ErrorStage, RequestIdStage
from broker.interface.grpc.interceptors.base import compose
from broker.interface.grpc.session import WorkerSessions, _Stream
from broker.v1 import job_service_pb2 as pb
from tests.unit.grpc_fakes import FakeContext, run_stages

ACK = "/broker.v1.JobService/Ack"


class Servicer:
    async def Ack(self, request, context):
        raise errors.ResourceExhausted("slow down", retry_after=0.25)


def stages(seen):
    async def record(call, proceed):
        seen.append((call.method, call.request_id, call.header("authorization")))
        return await proceed(call)
    return [RequestIdStage(), ErrorStage(), record]


async def test_a_session_call_passes_the_chain_and_answers_as_its_unary_twin():
    seen = []
    stream = FakeContext(metadata=[("authorization", "Bearer k"), ("x-request-id", "the-stream")])
    sessions = WorkerSessions(compose(stages(seen)))
    message = pb.SessionRequest(id=7, request_id="call-1", ack=pb.AckRequest())

    answer = await sessions.call(message, _Stream(stream, Servicer()))

    unary = FakeContext(metadata=[("authorization", "Bearer k"), ("x-request-id", "call-1")])
    try:
        await run_stages(stages(seen), Servicer().Ack, pb.AckRequest(), unary, method=ACK)
    except Exception:  # noqa: BLE001 - the unary call ends in AbortError; its status is in the context
        pass
    assert seen == [(ACK, "call-1", "Bearer k")] * 2
    assert (answer.id, answer.request_id) == (7, "call-1")
    assert (answer.error.code, answer.error.message) == (unary.status.value[0], unary.message)
    assert answer.error.retry_delay.ToNanoseconds() == 250_000_000


async def test_a_session_request_that_is_no_call_is_invalid_argument_through_the_table():
    answer = await WorkerSessions(compose([])).call(pb.SessionRequest(id=3), _Stream(FakeContext(), Servicer()))
    assert (answer.id, answer.error.code, answer.error.message) == (
        3, 3, "call: set one of lease, heartbeat, ack, nack, snooze")
