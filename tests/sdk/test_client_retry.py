"""The sync Client's retries, scripted with grpcio-testing's channel: no network, no sleeps."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import grpc
import grpc_testing
import pytest

from broker_client import CallRetry, Client, InvalidRequest, JobRequest, ResourceExhausted
from broker_client.retry_info import encode_retry_info
from broker_client.v1 import job_service_pb2 as pb

SERVICE = pb.DESCRIPTOR.services_by_name["JobService"]
ENQUEUE = SERVICE.methods_by_name["Enqueue"]
BATCH = SERVICE.methods_by_name["EnqueueBatch"]


class Harness:
    """A Client on a grpc_testing channel; the test plays the server."""

    def __init__(self, retry: CallRetry | None = None, token: str | None = None) -> None:
        self.channel = grpc_testing.channel([SERVICE], grpc_testing.strict_real_time())
        self.sleeps: list[float] = []
        self.client = Client("test:1", channel=self.channel, sleep=self.sleeps.append,
                             retry=retry or CallRetry(max_attempts=4), token=token)

    def start(self, fn, *args, **kwargs) -> Future:
        future: Future = Future()

        def run() -> None:
            try:
                future.set_result(fn(*args, **kwargs))
            except BaseException as exc:  # noqa: BLE001
                future.set_exception(exc)

        threading.Thread(target=run, daemon=True).start()
        return future

    def take(self, method=ENQUEUE):
        return self.channel.take_unary_unary(method)


def test_lost_first_response_is_retried_with_the_same_idempotency_key():
    h = Harness()
    call = h.start(h.client.enqueue, "emails", "send_email", {"to": "ada@example.com"})

    _, first, rpc = h.take()
    # The server committed the job, then the reply was lost on the way back.
    rpc.terminate(pb.EnqueueResponse(), (), grpc.StatusCode.UNAVAILABLE, "connection reset")
    _, second, rpc = h.take()
    rpc.terminate(pb.EnqueueResponse(job_id="job-1", created=False), (), grpc.StatusCode.OK, "")

    result = call.result(timeout=5)
    assert first.job.idempotency_key  # the client made one
    assert second.job.idempotency_key == first.job.idempotency_key
    assert second.job == first.job  # the very same request, run_at included
    assert result.job_id == "job-1" and result.created is False
    assert result.idempotency_key == first.job.idempotency_key
    assert len(h.sleeps) == 1


def test_callers_key_is_kept_and_deadline_exceeded_is_retried():
    h = Harness()
    call = h.start(h.client.enqueue, "q", "k", b"x", idempotency_key="order-42")
    _, first, rpc = h.take()
    rpc.terminate(pb.EnqueueResponse(), (), grpc.StatusCode.DEADLINE_EXCEEDED, "slow")
    _, second, rpc = h.take()
    rpc.terminate(pb.EnqueueResponse(job_id="j", created=True), (), grpc.StatusCode.OK, "")
    assert call.result(timeout=5).created
    assert first.job.idempotency_key == second.job.idempotency_key == "order-42"


def test_two_logical_enqueues_get_different_keys():
    h = Harness()
    keys = []
    for _ in range(2):
        call = h.start(h.client.enqueue, "q", "k")
        _, request, rpc = h.take()
        rpc.terminate(pb.EnqueueResponse(job_id="j", created=True), (), grpc.StatusCode.OK, "")
        call.result(timeout=5)
        keys.append(request.job.idempotency_key)
    assert keys[0] != keys[1]


def test_resource_exhausted_waits_the_retry_info_delay():
    h = Harness()
    call = h.start(h.client.enqueue, "q", "k")
    _, _, rpc = h.take()
    trailer = (("grpc-status-details-bin", encode_retry_info(1.25)),)
    rpc.terminate(pb.EnqueueResponse(), trailer, grpc.StatusCode.RESOURCE_EXHAUSTED, "slow down")
    _, _, rpc = h.take()
    rpc.terminate(pb.EnqueueResponse(job_id="j", created=True), (), grpc.StatusCode.OK, "")
    call.result(timeout=5)
    assert h.sleeps == [1.25]


def test_resource_exhausted_without_retry_info_is_not_retried():
    h = Harness()
    call = h.start(h.client.enqueue, "q", "k")
    _, _, rpc = h.take()
    rpc.terminate(pb.EnqueueResponse(), (), grpc.StatusCode.RESOURCE_EXHAUSTED, "payload too large")
    with pytest.raises(ResourceExhausted):
        call.result(timeout=5)
    assert h.sleeps == []


def test_invalid_argument_raises_at_once_with_the_servers_message():
    h = Harness()
    call = h.start(h.client.enqueue, "bad queue!", "k")
    _, _, rpc = h.take()
    rpc.terminate(pb.EnqueueResponse(), (), grpc.StatusCode.INVALID_ARGUMENT, "queue name: bad")
    with pytest.raises(InvalidRequest, match="queue name: bad") as info:
        call.result(timeout=5)
    assert info.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert isinstance(info.value.__cause__, grpc.RpcError)


def test_gives_up_after_max_attempts():
    h = Harness(retry=CallRetry(max_attempts=3, initial_backoff=0.1, max_backoff=0.4))
    call = h.start(h.client.enqueue, "q", "k")
    for _ in range(3):
        _, _, rpc = h.take()
        rpc.terminate(pb.EnqueueResponse(), (), grpc.StatusCode.UNAVAILABLE, "down")
    with pytest.raises(Exception, match="UNAVAILABLE"):
        call.result(timeout=5)
    assert len(h.sleeps) == 2
    assert 0.05 <= h.sleeps[0] <= 0.1 and 0.1 <= h.sleeps[1] <= 0.2  # equal jitter, doubling


def test_batch_retry_resends_the_same_keys_and_token_and_deadline_are_sent():
    h = Harness(token="s3cret")
    jobs = [JobRequest("q", "k", {"n": i}) for i in range(3)] + [JobRequest("q", "k", idempotency_key="mine")]
    call = h.start(h.client.enqueue_batch, jobs)
    metadata, first, rpc = h.take(BATCH)
    rpc.terminate(pb.EnqueueBatchResponse(), (), grpc.StatusCode.UNAVAILABLE, "")
    _, second, rpc = h.take(BATCH)
    answer = pb.EnqueueBatchResponse(results=[pb.EnqueueResponse(job_id=f"j{i}", created=True) for i in range(4)])
    rpc.terminate(answer, (), grpc.StatusCode.OK, "")
    results = call.result(timeout=5)
    keys = [j.idempotency_key for j in first.jobs]
    assert keys == [j.idempotency_key for j in second.jobs] and len(set(keys)) == 4 and keys[3] == "mine"
    assert [r.job_id for r in results] == ["j0", "j1", "j2", "j3"]
    assert ("authorization", "Bearer s3cret") in metadata
