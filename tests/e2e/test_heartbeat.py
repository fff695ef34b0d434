"""Heartbeat through the real server (it once failed with INTERNAL: the statement's `now`
parameter was inferred as an interval)."""

from __future__ import annotations

from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import duration, enqueue, lease, ref


async def test_heartbeat_extends_a_held_lease_and_reports_a_lost_one(jobs, queue):
    await enqueue(jobs, queue, 2)
    leased, other = await lease(jobs, queue, 2)
    stale = pb.LeaseRef(job_id=other.job.id, lease_token="00000000-0000-0000-0000-000000000000")
    reply = await jobs.Heartbeat(pb.HeartbeatRequest(leases=[ref(leased), stale], lease_duration=duration(120)))
    held, lost = reply.results
    assert held.outcome == pb.LEASE_OUTCOME_OK
    assert held.at.ToDatetime() > leased.lease_expires_at.ToDatetime()
    assert lost.outcome == pb.LEASE_OUTCOME_LOST
