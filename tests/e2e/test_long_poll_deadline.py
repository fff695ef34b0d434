"""A long poll ends just before the caller's deadline with an empty answer, instead of running
into DEADLINE_EXCEEDED (and possibly claiming jobs for a call about to be cancelled)."""

from __future__ import annotations

import time

from broker.v1 import job_service_pb2 as pb
from tests.e2e.helpers import duration


async def test_long_poll_answers_before_the_deadline(jobs, queue):
    started = time.monotonic()
    reply = await jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=1, wait=duration(30)),
                             timeout=1.0)
    took = time.monotonic() - started
    assert list(reply.jobs) == [] and took > 0.5  # it waited, and answered OK within the deadline
