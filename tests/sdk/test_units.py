"""Pure pieces: retry decisions, RetryInfo, backoff, job specs, the registry, the runner."""

from __future__ import annotations

import asyncio
import os
import random
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from broker_client import CallRetry, ConnectionOptions, JobRequest, PermanentError, Registry, RetryPolicy, TlsOptions
from broker_client.retry_info import encode_retry_info, retry_delay
from broker_client.retrying import Backoff, next_delay
from broker_client.v1 import job_pb2
from broker_client.worker.context import JobContext
from broker_client.worker.execution import MAX_ERROR_CHARS, HandlerRunner
from broker_client.worker.reconnect import UntilReconnected


class Err(grpc.RpcError):
    def __init__(self, code, trailers=()):
        self._code, self._trailers = code, trailers

    def code(self):
        return self._code

    def trailing_metadata(self):
        return self._trailers


POLICY = CallRetry(max_attempts=4, initial_backoff=0.2, max_backoff=1.0)
C = grpc.StatusCode


@pytest.mark.parametrize("code", [C.UNAVAILABLE, C.DEADLINE_EXCEEDED, C.CANCELLED])
def test_transient_codes_back_off_exponentially_with_equal_jitter(code):
    rng = random.Random(1)
    delays = [next_delay(Err(code), n, POLICY, rng) for n in (1, 2, 3)]
    assert 0.1 <= delays[0] <= 0.2 and 0.2 <= delays[1] <= 0.4 and 0.4 <= delays[2] <= 0.8
    assert next_delay(Err(code), 4, POLICY) is None  # attempts used up


@pytest.mark.parametrize("code", [C.INVALID_ARGUMENT, C.UNAUTHENTICATED, C.NOT_FOUND, C.INTERNAL,
                                  C.FAILED_PRECONDITION, C.PERMISSION_DENIED])
def test_other_codes_are_not_retried(code):
    assert next_delay(Err(code), 1, POLICY) is None


def test_retry_info_decides_resource_exhausted_and_wins_over_backoff():
    hint = (("grpc-status-details-bin", encode_retry_info(2.5)),)
    assert next_delay(Err(C.RESOURCE_EXHAUSTED), 1, POLICY) is None
    assert next_delay(Err(C.RESOURCE_EXHAUSTED, hint), 1, POLICY) == 2.5
    assert next_delay(Err(C.UNAVAILABLE, hint), 1, POLICY) == 2.5
    capped = CallRetry(max_retry_info_delay=1.0)
    assert next_delay(Err(C.RESOURCE_EXHAUSTED, hint), 1, capped) == 1.0


def test_retry_info_written_by_grpcio_status_is_read():
    info = error_details_pb2.RetryInfo()
    info.retry_delay.FromMilliseconds(750)
    status = status_pb2.Status(code=8, message="slow down")
    status.details.add().Pack(info)
    trailer = [("other", "x"), ("grpc-status-details-bin", status.SerializeToString())]
    assert retry_delay(trailer) == 0.75
    assert retry_delay([("grpc-status-details-bin", b"\xff garbage")]) is None
    assert retry_delay(None) is None


def test_worker_backoff_grows_caps_and_resets():
    b = Backoff(initial=0.1, maximum=0.4, rng=random.Random(3))
    delays = [b.next() for _ in range(6)]
    assert delays[0] <= 0.1 and all(0.2 <= d <= 0.4 for d in delays[3:])
    b.reset()
    assert b.next() <= 0.1


def test_options_metadata_keepalive_and_validation():
    opts = ConnectionOptions("h:1", token="t", metadata=(("x-tenant", "a"),), keepalive_time=20)
    assert opts.call_metadata() == (("authorization", "Bearer t"), ("x-tenant", "a"))
    assert ("grpc.keepalive_time_ms", 20000) in opts.grpc_options()
    with pytest.raises(ValueError, match="go together"):
        TlsOptions(certificate_chain=b"cert")
    with pytest.raises(ValueError):
        ConnectionOptions(timeout=0)


def test_channels_reconnect_within_the_reconnect_bound_and_ping_within_the_brokers_policy():
    args = dict(ConnectionOptions().grpc_options())
    # gRPC's defaults: reconnect attempts backing off to 120 s, each given 20 s.
    assert args["grpc.max_reconnect_backoff_ms"] == 1000 and args["grpc.initial_reconnect_backoff_ms"] == 200
    assert args["grpc.min_reconnect_backoff_ms"] == 5000
    # The broker allows a ping every 5 s, also between calls.
    assert args["grpc.keepalive_time_ms"] == 10_000 and args["grpc.keepalive_permit_without_calls"] == 1
    assert dict(ConnectionOptions(max_reconnect_backoff=30).grpc_options())["grpc.min_reconnect_backoff_ms"] == 30_000
    for bad in ({"max_reconnect_backoff": 0}, {"keepalive_time": 5}, {"keepalive_timeout": 0}):
        with pytest.raises(ValueError):
            ConnectionOptions(**bad)


class Channel:
    """A grpc.aio channel's connectivity, moved by the test."""

    def __init__(self, state):
        self.state, self.changed, self.asked_to_connect = state, asyncio.Event(), 0

    def get_state(self, try_to_connect=False):
        self.asked_to_connect += try_to_connect
        return self.state

    async def wait_for_state_change(self, last):
        while self.state == last:
            self.changed.clear()
            await self.changed.wait()

    def move(self, state):
        self.state = state
        self.changed.set()


async def test_a_retry_waits_its_delay_unless_the_channel_reconnects_meanwhile(monkeypatch):
    C = grpc.ChannelConnectivity
    away = Channel(C.TRANSIENT_FAILURE)
    waiting = asyncio.create_task(UntilReconnected(away)(3600))
    await asyncio.sleep(0.01)
    away.move(C.CONNECTING)
    await asyncio.sleep(0.01)
    assert not waiting.done()
    away.move(C.READY)
    await asyncio.wait_for(waiting, 5)  # not the hour
    assert away.asked_to_connect >= 2

    slept = []

    async def sleep(delay):
        slept.append(delay)
    monkeypatch.setattr(asyncio, "sleep", sleep)
    # Connected when the wait begins: the broker answered (an error, a RetryInfo delay), so the
    # whole delay, never a tight loop.
    await UntilReconnected(Channel(C.READY))(2.5)
    assert slept == [2.5]
    monkeypatch.undo()
    # A channel that stays away: the delay, and no longer.
    await asyncio.wait_for(UntilReconnected(Channel(C.TRANSIENT_FAILURE))(0.05), 5)


def test_job_request_to_spec():
    now = datetime(2030, 1, 1, tzinfo=timezone.utc)
    job = JobRequest("q", "k", {"a": 1}, priority=-5, delay=timedelta(seconds=90), headers={"h": "v"},
                     retry_policy=RetryPolicy(initial_delay=0.05, max_delay=2, multiplier=3, jitter="none"),
                     max_attempts=3, lease_duration=1.5).keyed()
    spec = job.to_spec(now)
    assert spec.payload == b'{"a":1}' and spec.headers == {"h": "v", "content-type": "application/json"}
    assert spec.run_at.ToDatetime(tzinfo=timezone.utc) == now + timedelta(seconds=90)
    assert spec.retry_policy.initial_delay.ToMilliseconds() == 50 and spec.retry_policy.jitter == job_pb2.JITTER_NONE
    assert spec.max_attempts == 3 and spec.priority == -5 and spec.lease_duration.ToMilliseconds() == 1500
    assert spec.idempotency_key == job.idempotency_key and job.keyed() is job
    assert JobRequest("q", "k", b"\x00raw").to_spec().headers == {}
    assert not JobRequest("q", "k").to_spec().HasField("run_at")


@pytest.mark.parametrize("kwargs, message", [
    ({"delay": 1, "run_at": datetime.now(timezone.utc)}, "not both"),
    ({"run_at": datetime(2030, 1, 1)}, "timezone-aware"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"delay": -1}, "delay"),
])
def test_job_request_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        JobRequest("q", "k", **kwargs)


def test_registry():
    reg = Registry()

    @reg.handler("a", timeout=3)
    async def a(ctx): ...

    def b(ctx): ...

    reg.add("b", b, cpu_bound=True)
    assert a.__name__ == "a" and reg.kinds == ["a", "b"] and "a" in reg and len(reg) == 2
    assert reg.get("a").is_async and reg.get("a").timeout == 3 and not reg.get("b").is_async
    assert reg.needs_process_pool and reg.get("c") is None
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", b)
    with pytest.raises(ValueError, match="must be sync"):
        reg.add("c", a, cpu_bound=True)


def pid_of(ctx):
    return os.getpid()


def long_error(ctx):
    raise RuntimeError("x" * (3 * MAX_ERROR_CHARS))


async def test_runner_uses_threads_and_processes_and_bounds_errors():
    reg = Registry()
    reg.add("thread", lambda ctx: threading.current_thread().name)
    reg.add("process", pid_of, cpu_bound=True)
    reg.add("long", long_error)
    reg.add("perm", lambda ctx: (_ for _ in ()).throw(PermanentError("no")))
    ctx = JobContext(id="1", kind="k", queue="q", payload=b"")
    with ThreadPoolExecutor(1, thread_name_prefix="t") as threads, ProcessPoolExecutor(1) as procs:
        runner = HandlerRunner(threads, procs)
        assert (await runner.run(reg.get("thread"), ctx)).value.startswith("t")
        assert (await runner.run(reg.get("process"), ctx)).value != os.getpid()
        long = await runner.run(reg.get("long"), ctx)
        assert not long.ok and len(long.error) < MAX_ERROR_CHARS + 100 and "traceback cut" in long.error
        assert (await runner.run(reg.get("perm"), ctx)).permanent
        missing = await runner.run(None, ctx)
        assert not missing.ok and "no handler registered for kind 'k'" in missing.error


async def test_a_handlers_own_timeout_error_is_an_ordinary_failure():
    async def raises_timeout(ctx):
        raise TimeoutError("upstream timed out")

    handler = Registry().add("t", raises_timeout)
    ctx = JobContext(id="1", kind="t", queue="q", payload=b"")
    outcome = await HandlerRunner(default_timeout=5).run(handler, ctx)
    assert "upstream timed out" in outcome.error and not ctx.lost


async def test_timeout_marks_the_context_lost_for_cooperative_sync_handlers():
    started, stopped = threading.Event(), threading.Event()

    def cooperative(ctx):
        started.set()
        while not ctx.lost:
            stopped.wait(0.01)
        stopped.set()

    handler = Registry().add("c", cooperative, timeout=0.3)
    ctx = JobContext(id="1", kind="c", queue="q", payload=b"")
    with ThreadPoolExecutor(1) as threads:
        outcome = await HandlerRunner(threads).run(handler, ctx)
        assert "ran longer than 0.3 s" in outcome.error
        assert started.is_set() and await asyncio.to_thread(stopped.wait, 10)
