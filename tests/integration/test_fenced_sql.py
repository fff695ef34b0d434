"""PostgreSQL fences every lease call inside its statement, Nack included: FAIL changes a job only
while it is RUNNING under the token a ref presents, whatever it was given to write. PgJobStore.fail
reads the held jobs and decides before FAIL runs, without a lock in between; this is what keeps a
job that moved on meanwhile (a repeat, the reaper, a cancel) from being failed again."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from broker.entities.job import JobState
from broker.infra.pg import sql
from broker.infra.pg.store import PgJobStore
from tests.contract.helpers import in_state, ref

T0 = datetime(2031, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def store(db):
    return PgJobStore(db)


async def fail_directly(db, job, token: str, now: datetime):
    """FAIL as PgJobStore.fail runs it, with a decision (DEAD) for the ref's job."""
    async with db.acquire() as conn:
        (row,) = await conn.fetch(sql.FAIL, [job.id], [token], ["dead"], [None], ["boom"], now)
    return row


@pytest.mark.parametrize("state", list(JobState))
async def test_fail_fails_only_a_job_running_under_the_presented_token(db, store, queue, state):
    job = await in_state(store, f"{queue}-{state.value}", T0, state)
    stale = await in_state(store, f"{queue}-{state.value}-stale", T0, state)

    held = await fail_directly(db, job, job.lease_token, T0)
    refused = await fail_directly(db, stale, "not-its-token", T0)

    assert held["changed"] is (state is JobState.RUNNING)
    assert (await store.get(job.id)).state is (JobState.DEAD if state is JobState.RUNNING else state)
    assert refused["changed"] is False and refused["reason"] is None
    assert await store.get(stale.id) == stale


async def test_a_job_that_moved_on_after_its_nack_was_decided_is_left_alone(db, store, queue):
    job = await in_state(store, queue, T0, JobState.RUNNING)
    await store.complete([ref(job)], T0)  # between Nack's read and its FAIL

    row = await fail_directly(db, job, job.lease_token, T0)

    assert (row["changed"], row["state"]) == (False, "succeeded")
    assert (await store.get(job.id)).state is JobState.SUCCEEDED
