from broker.v1 import job_pb2, job_service_pb2 as pb, admin_service_pb2 as apb
from tests.e2e.helpers import ack, enqueue, lease


async def test_enqueue_lease_ack(jobs, admin, queue):
    [job_id] = await enqueue(jobs, queue)
    [leased] = await lease(jobs, queue)
    assert leased.job.id == job_id and leased.attempt == 1
    [result] = await ack(jobs, leased)
    assert result.outcome == pb.LEASE_OUTCOME_OK
    got = await admin.GetJob(apb.GetJobRequest(job_id=job_id))
    assert got.job.state == job_pb2.JOB_STATE_SUCCEEDED
    assert [(e.from_state, e.to_state) for e in got.events] == [
        (0, job_pb2.JOB_STATE_PENDING), (job_pb2.JOB_STATE_PENDING, job_pb2.JOB_STATE_RUNNING),
        (job_pb2.JOB_STATE_RUNNING, job_pb2.JOB_STATE_SUCCEEDED)]
