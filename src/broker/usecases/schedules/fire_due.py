"""FireDue: the scheduler's pass. Each due fire enqueues through Enqueue, like any producer,
with the idempotency key (schedule, fire time): replicas racing on a schedule, or a pass cut
short and done again, make one job per fire time."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from broker.entities.errors import InvalidArgument
from broker.entities.schedule import MISSED_AFTER, Schedule, due, fire_key, zone
from broker.usecases.enqueue import Enqueue
from broker.usecases.ports import Clock
from broker.usecases.schedules.define import job_spec
from broker.usecases.schedules.ports import CronParser, ScheduleStore

log = logging.getLogger("broker.schedules")
# How long a replica holds the schedules it fires; if it dies, another takes them after this.
CLAIM = timedelta(seconds=30)


class FireListener(Protocol):
    """Told of each job a fire created (metrics)."""

    def fired(self, schedule: str, lag_seconds: float) -> None: ...


class FireDue:
    """One pass: claim the due schedules, enqueue their fires under their missed-fire policy,
    advance them. Returns how many schedules it handled (a full batch: call again)."""

    def __init__(self, store: ScheduleStore, clock: Clock, cron: CronParser, enqueue: Enqueue,
                 listener: FireListener | None = None, batch: int = 100, max_fires: int = 1000,
                 late: timedelta = MISSED_AFTER) -> None:
        self._store, self._clock, self._cron, self._enqueue = store, clock, cron, enqueue
        self._listener, self._batch, self._max_fires, self._late = listener, batch, max_fires, late

    async def run_once(self) -> int:
        now = self._clock.now()
        claimed = await self._store.claim_due(now, now + CLAIM, self._batch)
        for schedule in claimed:
            await self._fire(schedule, now)
        return len(claimed)

    async def _fire(self, s: Schedule, now) -> None:
        d = s.definition
        plan = due(self._cron.parse(d.cron), zone(d.time_zone), s.next_fire_at, now, d.missed,
                   d.catch_up_limit, self._late, self._max_fires)
        last_job = s.last_job_id
        if plan.fires:
            specs = [job_spec(d.job, fire_key(d.name, at), run_at=now) for at in plan.fires]
            try:
                inserted = await self._enqueue(specs)
            except InvalidArgument as exc:  # e.g. the limits changed since: it would never pass
                log.error("schedule %s: its job is refused (%s); these fires are skipped", d.name, exc)
                inserted = []
            for at, ins in zip(plan.fires, inserted):
                if ins.created and self._listener is not None:
                    self._listener.fired(d.name, (now - at).total_seconds())
            last_job = inserted[-1].job_id if inserted else last_job
        last_fire = plan.fires[-1] if plan.fires else s.last_fire_at
        if not await self._store.advance(d.name, s.next_fire_at, plan.next_fire_at, last_fire, last_job, now):
            log.info("schedule %s: advanced elsewhere meanwhile", d.name)
