"""Job results through the real server: an Ack item's result is kept with the job and shown by
GetJob and the dashboard's API; over BROKER_MAX_RESULT_BYTES is INVALID_ARGUMENT naming the field
and changes nothing; old-style Acks (leases only) keep working; a worker session carries them."""

from __future__ import annotations

import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb, job_pb2
from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import enqueue, lease, ref
from tests.e2e.observe import get_json
from tests.e2e.test_session import Session


def item(leased, result: bytes) -> pb.AckItem:
    return pb.AckItem(lease=ref(leased), result=result)


async def _job(admin, job_id: str) -> job_pb2.Job:
    return (await admin.GetJob(apb.GetJobRequest(job_id=job_id))).job


async def test_an_acks_results_are_kept_and_shown_and_a_repeat_keeps_the_first(jobs, admin, queue, broker_server):
    await enqueue(jobs, queue, 3)
    plain, first, second = await lease(jobs, queue, 3)

    response = await jobs.Ack(pb.AckRequest(leases=[ref(plain)], items=[item(first, b'{"n": 1}'),
                                                                         item(second, b"\xff\x00")]))
    again = await jobs.Ack(pb.AckRequest(items=[item(first, b"other")]))

    assert [r.job_id for r in response.results] == [plain.job.id, first.job.id, second.job.id]
    assert all(r.outcome == pb.LEASE_OUTCOME_OK and r.state == job_pb2.JOB_STATE_SUCCEEDED
               for r in [*response.results, *again.results])
    got = [await _job(admin, j.job.id) for j in (plain, first, second)]
    assert [(j.state, j.result) for j in got] == [(job_pb2.JOB_STATE_SUCCEEDED, b""),
                                                  (job_pb2.JOB_STATE_SUCCEEDED, b'{"n": 1}'),
                                                  (job_pb2.JOB_STATE_SUCCEEDED, b"\xff\x00")]
    detail = (await get_json(broker_server.http_port, f"/api/jobs/{first.job.id}"))["job"]
    assert (detail["result_bytes"], detail["result_preview"]) == (8, '{"n": 1}')
    assert (await get_json(broker_server.http_port, f"/api/jobs/{plain.job.id}"))["job"]["result_bytes"] is None


async def test_a_result_over_the_limit_is_refused_naming_it_and_nothing_changes(jobs, admin, queue):
    await enqueue(jobs, queue, 2)
    small, big = await lease(jobs, queue, 2)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await jobs.Ack(pb.AckRequest(items=[item(small, b"ok"), item(big, b"x" * (64 * 1024 + 1))]))

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("items[1].result: 65537 bytes is over the limit of 65536 bytes")
    assert [(await _job(admin, j.job.id)).state for j in (small, big)] == [job_pb2.JOB_STATE_RUNNING] * 2
    at_limit = await jobs.Ack(pb.AckRequest(items=[item(big, b"x" * (64 * 1024))]))
    assert at_limit.results[0].outcome == pb.LEASE_OUTCOME_OK
    await jobs.Ack(pb.AckRequest(leases=[ref(small)]))


async def test_a_bad_item_lease_is_named_by_its_place(jobs, queue):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await jobs.Ack(pb.AckRequest(items=[pb.AckItem(lease=pb.LeaseRef(job_id="nope", lease_token="t"))]))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("items[0].lease.job_id")


async def test_a_worker_session_acks_with_results(jobs, admin, queue):
    await enqueue(jobs, queue, 1)
    session = Session(jobs)
    [leased] = (await session.ask(lease=pb.LeaseRequest(queues=[queue], worker_id="s", max_jobs=1))).lease.jobs
    acked = await session.ask(ack=pb.AckRequest(items=[item(leased, b"from the session")]))
    too_big = await session.ask(ack=pb.AckRequest(items=[item(leased, b"x" * 70000)]))
    await session.close()

    assert acked.ack.results[0].outcome == pb.LEASE_OUTCOME_OK
    assert too_big.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert "items[0].result" in too_big.error.message
    assert (await _job(admin, leased.job.id)).result == b"from the session"
