"""Every end-to-end test ends with the event-log check: each state change of the test's queue
has exactly one event row and one structured log line, and each job's events chain from one
state to the next and end in its current state."""

from __future__ import annotations

import logging
from collections import Counter

import pytest

from broker.entities.job import JobState, Reason, is_legal
from tests import support


@pytest.fixture(autouse=True)
async def event_log_is_complete(caplog, queue, db):
    caplog.set_level(logging.INFO, logger="broker.jobs")
    spawned_before = len(support.SPAWNED_LOGS)
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")
    for path in support.SPAWNED_LOGS[spawned_before:]:  # brokers the test ran as subprocesses
        records += support.job_log_records(path)
    await check_event_log(db, queue, records)


def job_log_entries(records) -> list[dict]:
    """The state changes in `broker.jobs` log records (in-process records carry them as
    `entries`; lines read back from a subprocess's JSON log are one change each)."""
    found = []
    for r in records:
        if r.name != "broker.jobs":
            continue
        found += getattr(r, "entries", None) or [vars(r)]
    return found


async def check_event_log(db, queue: str, records) -> None:
    """Purged jobs take their events along, pruned ones leave theirs with their part of the event
    log (infra/pg/partitions.py); the check covers the jobs still there."""
    states = {r[0]: r[1] for r in await db.fetch(
        "SELECT id::text, state FROM broker_jobs WHERE queue = $1", queue)}
    events = await db.fetch(
        "SELECT job_id::text, from_state, to_state, reason, attempt FROM broker_events "
        "WHERE queue = $1 AND job_id = ANY($2::uuid[]) ORDER BY id", queue, list(states))
    logged = Counter(
        (e["job_id"], e["from"], e["to"], e["reason"], e["attempt"])
        for e in job_log_entries(records) if e["queue"] == queue and e["job_id"] in states)
    rows = Counter(tuple(e) for e in events)
    assert rows == logged, "event rows and log lines differ"
    last: dict[str, str | None] = {}
    for job_id, from_state, to_state, reason, _ in events:
        assert last.get(job_id) == from_state, f"job {job_id}: {from_state}->{to_state} after {last.get(job_id)}"
        assert is_legal(JobState(from_state) if from_state else None, JobState(to_state), Reason(reason))
        last[job_id] = to_state
    for job_id, state in states.items():
        assert last.get(job_id) == state, f"job {job_id} is {state} but its last event says {last.get(job_id)}"
