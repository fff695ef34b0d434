"""Worker sessions (JobService.WorkerSession) through the real server: the calls work as their
unary twins, answer out of order by id, fail one by one without ending the stream, pass the
same pipeline (request ids, access log, metrics, authentication, permissions, rate limits) and
end with UNAVAILABLE when the broker shuts down."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from broker.v1 import job_service_pb2 as pb
from broker.v1 import job_service_pb2_grpc
from tests.brokers import fresh_database, key_admin, running_broker
from tests.e2e.helpers import duration, enqueue, ref
from tests.e2e.test_pipeline import log_lines  # noqa: F401 - a fixture

UNAUTHENTICATED, DENIED = grpc.StatusCode.UNAUTHENTICATED.value[0], grpc.StatusCode.PERMISSION_DENIED.value[0]
INVALID, EXHAUSTED = grpc.StatusCode.INVALID_ARGUMENT.value[0], grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]


class Session:
    """A test's end of a session: send calls, collect answers by id."""

    def __init__(self, stub: job_service_pb2_grpc.JobServiceStub, metadata=()) -> None:
        self.call = stub.WorkerSession(metadata=metadata)
        self.next_id = 0

    async def send(self, **call) -> int:
        self.next_id += 1
        await self.call.write(pb.SessionRequest(id=self.next_id, **call))
        return self.next_id

    async def read(self) -> pb.SessionResponse:
        return await asyncio.wait_for(self.call.read(), 10)

    async def ask(self, **call) -> pb.SessionResponse:
        sent = await self.send(**call)
        answer = await self.read()
        assert answer.id == sent
        return answer

    async def close(self) -> None:
        await self.call.done_writing()
        assert await self.call.read() == grpc.aio.EOF
        assert await self.call.code() == grpc.StatusCode.OK


def lease(queue: str, n: int = 1, **fields) -> pb.LeaseRequest:
    return pb.LeaseRequest(queues=[queue], worker_id="session-worker", max_jobs=n, **fields)


async def test_lease_heartbeat_ack_and_nack_over_one_stream(jobs, queue, db):
    await enqueue(jobs, queue, 3)
    session = Session(jobs)
    leased = list((await session.ask(lease=lease(queue, 3))).lease.jobs)
    assert len(leased) == 3 and all(j.lease_token for j in leased)
    beat = await session.ask(heartbeat=pb.HeartbeatRequest(leases=[ref(j) for j in leased]))
    assert [r.outcome for r in beat.heartbeat.results] == [pb.LEASE_OUTCOME_OK] * 3
    acked = await session.ask(ack=pb.AckRequest(leases=[ref(leased[0]), ref(leased[1])]))
    assert [r.outcome for r in acked.ack.results] == [pb.LEASE_OUTCOME_OK] * 2
    nacked = await session.ask(nack=pb.NackRequest(items=[pb.NackItem(lease=ref(leased[2]), error="no")]))
    assert nacked.nack.results[0].outcome == pb.LEASE_OUTCOME_OK
    again = await session.ask(ack=pb.AckRequest(leases=[ref(leased[0])]))  # a repeat: still OK, once
    assert again.ack.results[0].outcome == pb.LEASE_OUTCOME_OK
    await session.close()
    states = dict(await db.fetch("SELECT id::text, state FROM broker_jobs WHERE queue = $1", queue))
    assert sorted(states.values()) == ["pending", "succeeded", "succeeded"]


async def test_a_long_poll_does_not_hold_up_the_calls_after_it(jobs, queue):
    await enqueue(jobs, queue, 1)
    session = Session(jobs)
    [job] = (await session.ask(lease=lease(queue))).lease.jobs
    polling = await session.send(lease=lease(queue, wait=duration(30)))  # nothing ready: it waits
    acking = await session.send(ack=pb.AckRequest(leases=[ref(job)]))
    first = await session.read()
    assert first.id == acking and first.ack.results[0].outcome == pb.LEASE_OUTCOME_OK
    [new] = await enqueue(jobs, queue, 1)
    woken = await session.read()
    assert woken.id == polling and [j.job.id for j in woken.lease.jobs] == [new]
    await session.ask(ack=pb.AckRequest(leases=[ref(woken.lease.jobs[0])]))
    await session.close()


async def test_a_failed_call_answers_with_its_error_and_the_stream_goes_on(jobs, queue):
    await enqueue(jobs, queue, 1)
    session = Session(jobs)
    bad = await session.ask(lease=lease(queue, 0), request_id="rid-session-bad")
    assert bad.WhichOneof("result") == "error" and bad.error.code == INVALID
    assert "max_jobs" in bad.error.message and bad.request_id == "rid-session-bad"
    empty = await session.ask()
    assert empty.error.code == INVALID and "set one of" in empty.error.message
    unknown = await session.ask(ack=pb.AckRequest(leases=[pb.LeaseRef(job_id="nope", lease_token="t")]))
    assert unknown.error.code == INVALID and "job_id" in unknown.error.message
    [job] = (await session.ask(lease=lease(queue))).lease.jobs  # still open, still working
    assert (await session.ask(ack=pb.AckRequest(leases=[ref(job)]))).ack.results[0].outcome == pb.LEASE_OUTCOME_OK
    await session.close()


async def test_each_call_has_its_own_request_id_access_line_and_metric(broker_server, jobs, queue, log_lines):  # noqa: F811
    session = Session(jobs, metadata=(("x-request-id", "rid-of-the-stream"),))
    given = await session.ask(lease=lease(queue), request_id="rid-session-1")
    made = await session.ask(lease=lease(queue))
    assert given.request_id == "rid-session-1"
    assert len(made.request_id) == 32 and made.request_id != "rid-of-the-stream"
    await session.close()
    access = [line for line in log_lines() if line["logger"] == "broker.access"
              and line.get("request_id") in ("rid-session-1", made.request_id)]
    assert [(a["method"], a["code"]) for a in access] == [("/broker.v1.JobService/Lease", "OK")] * 2
    exposition = (await broker_server.metrics.render())[0].decode()
    assert 'broker_rpc_duration_seconds_count{code="OK",method="/broker.v1.JobService/Lease"}' in exposition


async def test_the_deadline_a_call_gives_bounds_its_long_poll(jobs, queue):
    session = Session(jobs)
    started = asyncio.get_running_loop().time()
    answer = await session.ask(lease=lease(queue, wait=duration(30)), timeout=duration(0.3))
    assert list(answer.lease.jobs) == [] and asyncio.get_running_loop().time() - started < 5
    await session.close()


@pytest.fixture(scope="module")
async def secured(database_url):
    async with fresh_database(database_url) as url:
        async with key_admin(url) as admin:
            tokens = {role: (await admin.create(f"session-{role}", role)).token for role in ("producer", "worker")}
        async with running_broker(url, BROKER_AUTH="true", BROKER_RATE_LIMITS="settle=0.001/2") as broker:
            async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
                yield job_service_pb2_grpc.JobServiceStub(channel), tokens


def bearer(token: str):
    return (("authorization", f"Bearer {token}"),)


async def test_every_call_is_authenticated_authorized_and_rate_limited(secured):
    stub, tokens = secured
    anonymous = Session(stub)
    assert (await anonymous.ask(lease=lease("q"))).error.code == UNAUTHENTICATED
    producer = Session(stub, bearer(tokens["producer"]))
    assert (await producer.ask(lease=lease("q"))).error.code == DENIED
    worker = Session(stub, bearer(tokens["worker"]))
    assert (await worker.ask(lease=lease("q"))).WhichOneof("result") == "lease"
    acks = [await worker.ask(ack=pb.AckRequest(leases=[ref_of("00000000-0000-0000-0000-000000000000")]))
            for _ in range(3)]
    assert [a.WhichOneof("result") for a in acks] == ["ack", "ack", "error"]  # a burst of 2
    assert acks[2].error.code == EXHAUSTED and acks[2].error.retry_delay.seconds > 100
    for session in (anonymous, producer, worker):
        await session.close()


def ref_of(job_id: str) -> pb.LeaseRef:
    return pb.LeaseRef(job_id=job_id, lease_token="t")


async def test_shutdown_answers_the_calls_in_flight_and_ends_the_session(database_url, queue):
    async with fresh_database(database_url) as url, running_broker(url) as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            session = Session(job_service_pb2_grpc.JobServiceStub(channel))
            polling = await session.send(lease=lease(queue, wait=duration(30)))
            await asyncio.sleep(0.2)  # the long poll is waiting
            broker.begin_shutdown()
            answer = await session.read()
            assert answer.id == polling and list(answer.lease.jobs) == []
            with pytest.raises(grpc.aio.AioRpcError) as ended:
                await session.call.read()
            assert ended.value.code() == grpc.StatusCode.UNAVAILABLE and "shutting down" in ended.value.details()


async def test_bytes_that_are_not_a_request_get_invalid_argument_and_the_stream_goes_on(channel, queue):
    raw = channel.stream_stream("/broker.v1.JobService/WorkerSession", request_serializer=lambda b: b,
                                response_deserializer=pb.SessionResponse.FromString)()
    await raw.write(b"\xff\xff\xff")
    answer = await asyncio.wait_for(raw.read(), 10)
    assert answer.id == 0 and answer.error.code == INVALID and "not a valid SessionRequest" in answer.error.message
    await raw.write(pb.SessionRequest(id=5, lease=lease(queue)).SerializeToString())
    assert (await asyncio.wait_for(raw.read(), 10)).WhichOneof("result") == "lease"
    await raw.done_writing()
    assert await raw.read() == grpc.aio.EOF


async def test_a_call_given_up_on_is_stopped_and_never_answered(jobs, queue, db):
    session = Session(jobs)
    polling = await session.send(lease=lease(queue, wait=duration(30)))
    await asyncio.sleep(0.2)  # the long poll is waiting
    await session.call.write(pb.SessionRequest(cancel=polling))
    await asyncio.sleep(0.2)
    [job_id] = await enqueue(jobs, queue, 1)
    await asyncio.sleep(0.3)  # a long poll still waiting would have claimed it by now
    assert await db.fetchval("SELECT state FROM broker_jobs WHERE id = $1::uuid", job_id) == "pending"
    answer = await session.ask(lease=lease(queue))  # the next answer is this call's, not the poll's
    assert [j.job.id for j in answer.lease.jobs] == [job_id]
    await session.ask(ack=pb.AckRequest(leases=[ref(answer.lease.jobs[0])]))
    await session.close()
