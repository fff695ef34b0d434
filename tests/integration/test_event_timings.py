"""The store reports how long a job waited for its lease and how long each attempt ran."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.job import JobState, Reason
from broker.entities.lease import Failure, LeaseRef
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra.pg.store import PgJobStore
from broker.usecases.nack import decider
from broker.usecases.ports import NewJob


@pytest.fixture(scope="module")
def store(db):
    return PgJobStore(db)


def _job(queue: str, run_at: datetime, max_attempts: int = 3) -> NewJob:
    return NewJob(queue=queue, kind="k", payload=b"", headers={}, idempotency_key=None, priority=0,
                  run_at=run_at, max_attempts=max_attempts, retry=RetryPolicy(jitter=Jitter.NONE),
                  lease_duration=30.0)


async def test_lease_ack_nack_and_expiry_carry_wait_and_run_times(store, queue):
    t0 = datetime(2030, 1, 1, tzinfo=timezone.utc)
    await store.enqueue([_job(queue, t0), _job(queue, t0)], t0)
    at = lambda seconds: t0 + timedelta(seconds=seconds)  # noqa: E731

    jobs, leased = await store.claim([queue], "w", 2, None, at(7))
    assert [e.waited for e in leased] == [7.0, 7.0]
    first, second = jobs

    _, acked = await store.complete([LeaseRef(first.id, first.lease_token)], at(9.5))
    assert [(e.reason, e.ran) for e in acked] == [(Reason.ACK, 2.5)]

    # The second job's lease lapses (30 s); the reaper sees it 40 s after the lease began. (The
    # reaper's pass is for every queue: it may also take leases that earlier tests left behind.)
    expired = await store.rescue_expired(at(47), 1000, decider(at(47), random.Random(1)))
    assert [(e.job_id, e.reason, e.to_state, e.ran) for e in expired if e.queue == queue] == [
        (second.id, Reason.EXPIRE, JobState.PENDING, 40.0)]

    # Leased again once its backoff (1 s, no jitter) is over; it waited 3 s past its new run_at.
    [again], [lease_event] = await store.claim([queue], "w2", 1, None, at(51))
    assert lease_event.waited == 3.0
    _, nacked = await store.fail([(LeaseRef(again.id, again.lease_token), Failure("boom"))],
                                 at(52), decider(at(52), random.Random(1)))
    assert [(e.reason, e.ran) for e in nacked] == [(Reason.NACK, 1.0)]
