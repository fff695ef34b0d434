"""ListJobs pages over gRPC and /api/dead: signed page tokens (a crafted one is refused before it
reaches the database), shared by replicas, and no token after the last page."""

from __future__ import annotations

import base64
import uuid

import aiohttp
import grpc
import pytest

from broker import app
from broker.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc, job_pb2
from tests.conftest import broker_settings
from tests.e2e.helpers import enqueue, lease, nack
from tests.e2e.test_cli_ops import broker_cli

DEAD = job_pb2.JOB_STATE_DEAD
# The format tokens had before they were signed: base64 of "<created_at>|<id>". This one decodes
# to a time PostgreSQL cannot hold.
OUT_OF_RANGE = base64.urlsafe_b64encode(f"9999-12-31T23:59:59-23:59|{uuid.uuid4()}".encode()).decode()
OLD_FORMAT = base64.urlsafe_b64encode(f"2030-01-01T00:00:00+00:00|{uuid.uuid4()}".encode()).decode()


async def kill(jobs, queue: str, n: int) -> list[str]:
    ids = await enqueue(jobs, queue, n, max_attempts=1)
    for leased in await lease(jobs, queue, n):
        await nack(jobs, leased, permanent=True)
    return ids


@pytest.mark.parametrize("token", [OUT_OF_RANGE, OLD_FORMAT, "garbage!"])
async def test_a_token_the_broker_did_not_issue_is_invalid_argument(admin, queue, token):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.ListJobs(apb.ListJobsRequest(queue=queue, page_token=token))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("page_token: is not a token this broker issued")


@pytest.mark.parametrize("token", [OUT_OF_RANGE, OLD_FORMAT])
async def test_api_dead_answers_400_for_a_token_the_broker_did_not_issue(broker_server, token):
    url = f"http://127.0.0.1:{broker_server.http_port}/api/dead?page_token={token}"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 400
        assert (await response.json())["error"].startswith("page_token: is not a token this broker issued")


async def test_pages_end_without_a_token_when_the_last_one_is_full(jobs, admin, queue, broker_server):
    ids = await kill(jobs, queue, 4)

    first = await admin.ListJobs(apb.ListJobsRequest(queue=queue, state=DEAD, page_size=2))
    second = await admin.ListJobs(apb.ListJobsRequest(queue=queue, state=DEAD, page_size=2,
                                                      page_token=first.next_page_token))
    assert first.next_page_token and second.next_page_token == ""
    assert sorted(j.id for j in [*first.jobs, *second.jobs]) == sorted(ids)

    page = await admin.ListJobs(apb.ListJobsRequest(queue=queue, page_size=4))
    assert len(page.jobs) == 4 and page.next_page_token == ""
    api = f"http://127.0.0.1:{broker_server.http_port}/api/dead?queue={queue}&limit=4"
    async with aiohttp.ClientSession() as session, session.get(api) as response:
        body = await response.json()
    assert len(body["jobs"]) == 4 and body["next_page_token"] == ""


async def test_dlq_list_with_exactly_limit_dead_jobs_claims_no_more(jobs, queue, broker_server):
    await kill(jobs, queue, 2)
    target = broker_server.grpc_address

    code, out, err = await broker_cli("dlq", "list", "--queue", queue, "--limit", "2", target=target)
    assert code == 0, err
    assert "more than" not in out
    code, out, err = await broker_cli("dlq", "list", "--queue", queue, "--limit", "1", target=target)
    assert code == 0 and "(more than 1; raise --limit)" in out


async def test_a_token_from_one_replica_continues_on_another(own_database, queue):
    brokers = [await app.start(broker_settings(own_database)) for _ in range(2)]
    try:
        channels = [grpc.aio.insecure_channel(b.grpc_address) for b in brokers]
        first, second = (admin_service_pb2_grpc.AdminServiceStub(c) for c in channels)
        from broker.v1 import job_service_pb2_grpc

        await enqueue(job_service_pb2_grpc.JobServiceStub(channels[0]), queue, 3)
        page = await first.ListJobs(apb.ListJobsRequest(queue=queue, page_size=2))
        rest = await second.ListJobs(apb.ListJobsRequest(queue=queue, page_size=2,
                                                         page_token=page.next_page_token))
        assert len(rest.jobs) == 1 and rest.next_page_token == ""
        assert {j.id for j in page.jobs}.isdisjoint(j.id for j in rest.jobs)
        for channel in channels:
            await channel.close()
    finally:
        for broker in brokers:
            await broker.stop(grace=1)
