"""The ScheduleStore in memory; tests/contract/test_schedules.py holds it to PgScheduleStore."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from broker.entities.schedule import Schedule, ScheduleDefinition
from broker.usecases.schedules.ports import Declared


class InMemoryScheduleStore:
    def __init__(self) -> None:
        self.rows: dict[str, Schedule] = {}
        self.claims: dict[str, datetime] = {}

    async def create(self, schedule: Schedule, now: datetime) -> bool:
        if schedule.name in self.rows:
            return False
        self.rows[schedule.name] = replace(schedule, created_at=now, updated_at=now)
        return True

    async def replace(self, definition: ScheduleDefinition, next_fire_at: datetime | None,
                      now: datetime) -> Schedule | None:
        old = self.rows.get(definition.name)
        if old is None:
            return None
        if next_fire_at is not None:
            self.claims.pop(definition.name, None)
        new = self.rows[definition.name] = replace(
            old, definition=definition, next_fire_at=next_fire_at or old.next_fire_at, updated_at=now)
        return new

    async def delete(self, name: str) -> bool:
        self.claims.pop(name, None)
        return self.rows.pop(name, None) is not None

    async def get(self, name: str) -> Schedule | None:
        return self.rows.get(name)

    async def list_schedules(self) -> list[Schedule]:
        return [self.rows[n] for n in sorted(self.rows)]

    async def set_paused(self, name: str, paused: bool, next_fire_at: datetime | None,
                         now: datetime) -> Schedule | None:
        old = self.rows.get(name)
        if old is None:
            return None
        new = self.rows[name] = replace(old, paused=paused, next_fire_at=next_fire_at or old.next_fire_at,
                                        updated_at=now)
        return new

    async def claim_due(self, now: datetime, until: datetime, limit: int) -> list[Schedule]:
        due = sorted((s for s in self.rows.values() if not s.paused and s.next_fire_at <= now
                      and (s.name not in self.claims or self.claims[s.name] <= now)),
                     key=lambda s: (s.next_fire_at, s.name))[:limit]
        for s in due:
            self.claims[s.name] = until
        return due

    async def advance(self, name: str, expected_next: datetime, next_fire_at: datetime,
                      last_fire_at: datetime | None, last_job_id: str | None, now: datetime) -> bool:
        old = self.rows.get(name)
        if old is None or old.next_fire_at != expected_next:
            return False
        self.rows[name] = replace(old, next_fire_at=next_fire_at, last_fire_at=last_fire_at, last_job_id=last_job_id)
        self.claims.pop(name, None)
        return True

    async def record_trigger(self, name: str, job_id: str, now: datetime) -> Schedule | None:
        old = self.rows.get(name)
        if old is None:
            return None
        new = self.rows[name] = replace(old, last_fire_at=now, last_job_id=job_id)
        return new

    async def apply_declared(self, schedules: Sequence[Schedule], now: datetime) -> Declared:
        created, updated = [], []
        for s in schedules:
            old = self.rows.get(s.name)
            if old is None:
                self.rows[s.name] = replace(s, declared=True, paused=False, created_at=now, updated_at=now)
                created.append(s.name)
            elif (old.definition, old.declared) != (s.definition, True):
                same_when = old.definition.when == s.definition.when
                self.rows[s.name] = replace(old, definition=s.definition, declared=True, updated_at=now,
                                            next_fire_at=old.next_fire_at if same_when else s.next_fire_at)
                updated.append(s.name)
        named = {s.name for s in schedules}
        deleted = sorted(n for n, s in self.rows.items() if s.declared and n not in named)
        for n in deleted:
            del self.rows[n]
        return Declared(tuple(sorted(created)), tuple(sorted(updated)), tuple(deleted))
