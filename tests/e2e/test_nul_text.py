"""NUL characters, which PostgreSQL text and jsonb cannot hold (found by the fuzz tests: they
used to fail in the database with INTERNAL): refused as INVALID_ARGUMENT in names, keys and
tokens; replaced in a worker's free-text error."""

from __future__ import annotations

import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb, job_service_pb2 as pb
from tests.e2e.helpers import enqueue, lease, ref, spec


@pytest.mark.parametrize("fields, where", [
    ({"kind": "a\x00b"}, "job.kind"),
    ({"idempotency_key": "k\x00"}, "job.idempotency_key"),
    ({"headers": {"h": "v\x00"}}, "job.headers"),
])
async def test_nul_in_a_job_spec_is_invalid(jobs, queue, fields, where):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await jobs.Enqueue(pb.EnqueueRequest(job=spec(queue, **fields)))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT and where in refused.value.details()


async def test_nul_in_worker_id_and_lease_token_is_invalid(jobs, queue):
    for call in (jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w\x00", max_jobs=1)),
                 jobs.Ack(pb.AckRequest(leases=[pb.LeaseRef(job_id="00000000-0000-0000-0000-000000000000",
                                                            lease_token="\x00")]))):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_nul_in_a_nack_error_is_kept_readable(jobs, admin, queue):
    await enqueue(jobs, queue)
    [leased] = await lease(jobs, queue)
    reply = await jobs.Nack(pb.NackRequest(items=[pb.NackItem(lease=ref(leased), error="bad\x00byte")]))
    assert reply.results[0].outcome == pb.LEASE_OUTCOME_OK
    job = (await admin.GetJob(apb.GetJobRequest(job_id=leased.job.id))).job
    assert job.last_error == "bad\ufffdbyte"
