"""The worker calls of PgJobStore beyond Heartbeat, Ack and Nack: Snooze, and a Heartbeat that
carries progress (one fenced statement each, worker_sql.py); and the outcome per lease of every
lease call (`calls`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from broker.entities.job import Event
from broker.entities.lease import LeaseRef, Snapshot
from broker.entities.progress import Progress
from broker.infra.pg import rows, worker_sql
from broker.infra.pg.conn import Connections, guarded
from broker.usecases.ports import LeaseCall


class WorkerCalls:
    """PgJobStore's snooze and extend_with_progress (a mixin: it borrows the store's connections)."""

    _conn: Connections

    @guarded
    async def snooze(self, items: Sequence[tuple[LeaseRef, datetime]],
                     now: datetime) -> tuple[list[LeaseCall], list[Event]]:
        refs = [ref for ref, _ in items]
        async with self._conn() as conn:
            found = await conn.fetch(worker_sql.SNOOZE, *ref_columns(refs), [at for _, at in items], now)
        return calls(refs, found), rows.events(found, now)

    @guarded
    async def extend_with_progress(self, refs: Sequence[LeaseRef], progress: Sequence[Progress | None],
                                   lease_duration: float | None,
                                   now: datetime) -> tuple[list[LeaseCall], list[Event]]:
        async with self._conn() as conn:
            found = await conn.fetch(worker_sql.EXTEND_PROGRESS, *ref_columns(refs), now, lease_duration,
                                     [p and p.fraction for p in progress], [p and p.message for p in progress])
        done = calls(refs, found)
        # The progress each event reports: the first a holding ref gave for the job.
        given: dict[str, Progress] = {}
        for call, p in zip(done, progress):
            if call.changed and p is not None:
                given.setdefault(call.ref.job_id.lower(), p)
        events = [replace(e, progress=Progress(given[e.job_id].fraction, given[e.job_id].message, now))
                  for e in rows.events(found, now) if e.job_id in given]
        return done, events


def ref_columns(refs: Sequence[LeaseRef]) -> tuple[list[str], list[str]]:
    return [r.job_id for r in refs], [r.lease_token for r in refs]


def calls(refs: Sequence[LeaseRef], found) -> list[LeaseCall]:
    """What a lease call did with each ref, from its statement's rows (sql._outcome), in order."""
    done = []
    for ref, row in zip(refs, found):
        if row["changed"]:
            done.append(LeaseCall(ref, True, Snapshot(rows.state(row["state"]), ref.lease_token), row["at"]))
        elif row["state"] is None:
            done.append(LeaseCall(ref, False, None))
        else:
            done.append(LeaseCall(ref, False, Snapshot(rows.state(row["state"]), row["lease_token"], row["run_at"])))
    return done
