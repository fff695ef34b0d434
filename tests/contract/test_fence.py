"""Heartbeat, Ack and Nack are fenced by one rule (broker.entities.lease: `fence`, `holds`,
`classify`), and both stores obey it as written there: a job in every state meets each call with
its current token and with a stale one, and what must happen is read from the entities."""

from __future__ import annotations

import pytest

from broker.entities.job import JobState, Reason
from broker.entities.lease import Failure, LeaseRef, Outcome, classify, fence, holds
from tests.contract.helpers import decide, in_state, seconds

CALLS = {"heartbeat": None, "ack": Reason.ACK, "nack": Reason.NACK}


async def call(store, name: str, ref: LeaseRef, now):
    if name == "heartbeat":
        return await store.extend([ref], None, now)
    if name == "ack":
        return (await store.complete([ref], now))[0]
    return (await store.fail([(ref, Failure("boom", retry_after=5.0))], now, decide(now)))[0]


@pytest.mark.parametrize("name", CALLS)
async def test_a_lease_call_changes_its_job_iff_it_holds_the_lease(store, queue, t0, name):
    fenced = fence(CALLS[name])
    now = seconds(t0, 1)
    for state in JobState:
        for stale in (False, True):
            job = await in_state(store, f"{queue}-{state.value}-{stale}", t0, state)
            presented = "stale-token" if stale else job.lease_token

            (done,) = await call(store, name, LeaseRef(job.id, presented), now)

            expected = holds(fenced.held, job.state, job.lease_token, presented)
            assert done.changed is expected, (name, state, stale)
            if not expected:
                assert await store.get(job.id) == job, (name, state, stale)
            repeat = not stale and job.state in fenced.done
            outcome = classify(done.ref, done.changed, done.snapshot, fenced.done, done.at).outcome
            assert outcome is (Outcome.OK if expected or repeat else Outcome.LOST), (name, state, stale)
