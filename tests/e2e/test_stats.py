"""Stats through the real server (it once failed with INTERNAL: the windows statement's `now`
parameter was inferred as an interval)."""

from __future__ import annotations

from broker.v1 import admin_service_pb2 as apb
from tests.e2e.helpers import ack, enqueue, lease


async def test_stats_counts_states_and_the_last_minute(jobs, admin, queue):
    await enqueue(jobs, queue, 3)
    [leased] = await lease(jobs, queue)
    await ack(jobs, leased)
    reply = await admin.Stats(apb.StatsRequest(queues=[queue]))
    [q] = reply.queues
    assert (q.queue, q.ready, q.succeeded) == (queue, 2, 1)
    assert (q.last_minute.enqueued, q.last_minute.succeeded) == (3, 1)
