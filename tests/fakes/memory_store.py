"""InMemoryJobStore: the JobStore port kept in dictionaries, for unit tests.

It follows PgJobStore call for call (tests/contract runs one suite against both), and it takes
its rules from the entities, read at each call: the moves (`MOVES`: which states each one leaves
and leads to, every change checked by `check_transition`), the lease fence (`fence`, `holds`)
and, through the `decide` callback, where a failed attempt goes. No method awaits anything, so
each call is atomic on the event loop, as one transaction is in PostgreSQL.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone

from broker.entities import callback
from broker.entities.callback import Subscription
from broker.entities.errors import Unavailable
from broker.entities.job_view import JobFilter
from broker.entities.job import MOVES, AttemptError, Event, Job, JobState, Reason, check_transition
from broker.entities.flow_limits import Bucket
from broker.entities.breaker import Breaker, BreakerState
from broker.entities.queue_state import QueueControls
from broker.entities.lease import LEASE_EXPIRED, Failure, Fence, LeaseRef, Snapshot, fence, holds
from broker.entities.progress import Progress
from broker.entities.stats import MinuteCounts, QueueStats, WindowCounts, WorkerLeases
from broker.usecases.ports import Decider, Inserted, LeaseCall, NewJob, Taker

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
PRUNABLE = (S, C)  # dead jobs stay until an operator purges them


class InMemoryJobStore:
    """JobStore in memory. `down = True` makes every call raise Unavailable."""

    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.events: list[Event] = []  # the event log, ids assigned
        self._heartbeats: dict[str, datetime] = {}
        self._leased_at: dict[str, datetime] = {}  # the current or last lease's start
        self._keys: dict[tuple[str, str], str] = {}
        self._next_event_id = 1
        self.down = False
        self.controls: dict[str, QueueControls] = {}  # queue controls (tests/fakes/queue_store.py)
        self.buckets: dict[str, Bucket] = {}  # the rate-limited queues' token buckets
        self.subscriptions: dict[str, Subscription] = {}  # callbacks (tests/fakes/subscription_store.py)
        self._made: list[Event] = []  # the enqueue events of deliveries the current call made
        self.breakers: dict[str, Breaker] = {}  # circuit breakers (tests/fakes/breaker_store.py)

    # -- writes -----------------------------------------------------------------------------

    async def enqueue(self, jobs: Sequence[NewJob], now: datetime) -> tuple[list[Inserted], list[Event]]:
        self._check_up()
        inserted, events = [], []
        for new in jobs:
            key = (new.queue, new.idempotency_key)
            if new.idempotency_key is not None and key in self._keys:
                inserted.append(Inserted(self._keys[key], False))
                continue
            job = Job(
                id=str(uuid.uuid4()), queue=new.queue, kind=new.kind, payload=bytes(new.payload),
                state=_target(Reason.ENQUEUE), run_at=new.run_at, priority=new.priority, headers=dict(new.headers),
                idempotency_key=new.idempotency_key, max_attempts=new.max_attempts, retry=new.retry,
                lease_duration=new.lease_duration, created_at=now, updated_at=now,
                max_lease_expiries=new.max_lease_expiries, payload_ref=new.payload_ref,
                concurrency_key=new.concurrency_key,
            )
            events.append(self._move(Reason.ENQUEUE, None, job, now))
            if new.idempotency_key is not None:
                self._keys[key] = job.id
            inserted.append(Inserted(job.id, True))
        return inserted, events

    async def claim(self, queues: Sequence[str], worker_id: str, limit: int,
                    lease_duration: float | None, now: datetime) -> tuple[list[Job], list[Event]]:
        return await self.claim_for(queues, [Taker(worker_id, limit, lease_duration)], now)

    async def claim_for(self, queues: Sequence[str], takers: Sequence[Taker],
                        now: datetime) -> tuple[list[Job], list[Event]]:
        """As PgJobStore: the sum of the limits claimed in lease order, the n-th job for the n-th slot."""
        self._check_up()
        slots = [t for t in takers for _ in range(t.limit)]
        ready = self._ready(queues, len(slots), now)
        leased, events = [], []
        for job, taker in zip(ready, slots):
            worker_id, lease_duration = taker.worker_id, taker.lease_duration
            seconds = lease_duration if lease_duration is not None else job.lease_duration
            after = replace(job, state=_target(Reason.LEASE), attempt=job.attempt + 1, lease_token=str(uuid.uuid4()),
                            lease_expires_at=now + timedelta(seconds=seconds), worker_id=worker_id,
                            updated_at=now, progress=None)
            events.append(self._move(Reason.LEASE, job, after, now, waited=_since(max(job.run_at, job.created_at or job.run_at), now)))
            self._heartbeats[job.id] = self._leased_at[job.id] = now
            leased.append(replace(after, created_at=None, updated_at=None, finished_at=None))
        return leased, events

    def _ready(self, queues: Sequence[str], limit: int, now: datetime) -> list[Job]:
        """As PgJobStore.claim: the queues without controls in lease order, then the counted
        queues (claims.CLAIM_LIMITED), each up to its room; paused: none. A queue whose breaker
        holds back is left alone, but for a HALF_OPEN breaker's probes."""
        controls = {q: self.controls.get(q) for q in queues}
        held = {q for q in queues if q in self.breakers and self.breakers[q].holds_back}
        plain = {q for q, c in controls.items() if (c is None or not (c.paused or c.counted)) and q not in held}
        counted = [c for q, c in controls.items() if c and c.counted and not c.paused and q not in held]
        sources, order = MOVES[Reason.LEASE].sources, (lambda j: (j.priority, j.run_at, j.id))
        ready = sorted((j for j in self.jobs.values() if j.state in sources and j.queue in plain and j.run_at <= now),
                       key=order)[:max(limit, 0)]
        extra = []
        for c in counted:
            extra += self._fitting(c, max(limit - len(ready), 0), now)
        extra = sorted(extra, key=order)[:max(limit - len(ready), 0)]
        self._take_tokens(counted, extra, now)
        found = ready + extra
        return found + self._probes(queues, limit - len(found), now)

    def _take_tokens(self, counted: Sequence[QueueControls], leased: list[Job], now: datetime) -> None:
        for c in counted:
            if c.rate_limit is not None:
                taken = sum(1 for j in leased if j.queue == c.name)
                self.buckets[c.name] = self._bucket(c, now).take(taken, now, c.rate_limit, c.rate_burst)

    def _fitting(self, c: QueueControls, limit: int, now: datetime) -> list[Job]:
        """A counted queue's jobs this claim may take: its room under each control, per-key
        limits passed over in lease order (claims.CLAIM_LIMITED)."""
        running = [j for j in self.jobs.values() if j.queue == c.name and j.state is R]
        room = limit
        if c.concurrency_limit is not None:
            room = min(room, c.concurrency_limit - len(running))
        if c.rate_limit is not None:
            room = min(room, int(self._bucket(c, now).at(now, c.rate_limit, c.rate_burst)))
        busy: dict[str, int] = {}
        for j in running:
            if j.concurrency_key is not None:
                busy[j.concurrency_key] = busy.get(j.concurrency_key, 0) + 1
        taken: list[Job] = []
        for job in sorted((j for j in self.jobs.values() if j.state in MOVES[Reason.LEASE].sources
                           and j.queue == c.name and j.run_at <= now), key=lambda j: (j.priority, j.run_at, j.id)):
            if len(taken) >= room:
                break
            key = job.concurrency_key
            if c.per_key_concurrency is not None and key is not None:
                if busy.get(key, 0) >= c.per_key_concurrency:
                    continue
                busy[key] = busy.get(key, 0) + 1
            taken.append(job)
        return taken

    def _bucket(self, c: QueueControls, now: datetime) -> Bucket:
        return self.buckets.get(c.name) or Bucket(float(c.rate_burst), c.updated_at or now)

    def _probes(self, queues: Sequence[str], limit: int, now: datetime) -> list[Job]:
        """As breaker_claims.BreakerClaims.probes: a HALF_OPEN breaker's probe room, for queues that
        are not paused; a counted queue's probes obey its controls (_fitting) and take tokens; the
        probes leased are counted."""
        sources, order, found = MOVES[Reason.LEASE].sources, (lambda j: (j.priority, j.run_at, j.id)), []
        for queue in queues:
            b, c = self.breakers.get(queue), self.controls.get(queue)
            if b is None or b.probe_room <= 0 or (c is not None and c.paused):
                continue
            if c is not None and c.counted:
                found += self._fitting(c, min(b.probe_room, max(limit - len(found), 0)), now)
                self._take_tokens([c], [j for j in found if j.queue == queue], now)
                continue
            found += sorted((j for j in self.jobs.values() if j.state in sources and j.queue == queue and j.run_at <= now),
                            key=order)[:b.probe_room]
        found = sorted(found, key=order)[:max(limit, 0)]
        for queue in {j.queue for j in found}:
            self.breakers[queue] = self.breakers[queue].leased(sum(1 for j in found if j.queue == queue))
        return found

    async def extend(self, refs: Sequence[LeaseRef], lease_duration: float | None,
                     now: datetime) -> list[LeaseCall]:
        self._check_up()
        before = self._snapshot(refs)
        changed: dict[str, tuple[str, JobState, datetime]] = {}
        for ref in refs:
            job = self._held(ref, fence(None))
            if job is None or job.id in changed:
                continue
            seconds = lease_duration if lease_duration is not None else job.lease_duration
            job = self._put(replace(job, lease_expires_at=now + timedelta(seconds=seconds)))
            self._heartbeats[job.id] = now
            changed[job.id] = (ref.lease_token, job.state, job.lease_expires_at)
        return self._calls(refs, before, changed)

    async def extend_with_progress(self, refs: Sequence[LeaseRef], progress: Sequence[Progress | None],
                                   lease_duration: float | None,
                                   now: datetime) -> tuple[list[LeaseCall], list[Event]]:
        self._check_up()
        before = self._snapshot(refs)
        changed: dict[str, tuple[str, JobState, datetime]] = {}
        events = []
        # A lease named twice: its first naming with progress (as PgJobStore).
        for i in sorted(range(len(refs)), key=lambda i: progress[i] is None):
            ref, given = refs[i], progress[i]
            job = self._held(ref, fence(None))
            if job is None or job.id in changed:
                continue
            seconds = lease_duration if lease_duration is not None else job.lease_duration
            moved = given is not None and not given.same(job.progress)
            after = replace(job, lease_expires_at=now + timedelta(seconds=seconds),
                            progress=Progress(given.fraction, given.message, now) if moved else job.progress)
            if moved:
                events.append(self._move(Reason.PROGRESS, job, after, now, progress=after.progress))
            self._put(after)
            self._heartbeats[job.id] = now
            changed[job.id] = (ref.lease_token, after.state, after.lease_expires_at)
        return self._calls(refs, before, changed), events

    async def release(self, refs: Sequence[LeaseRef], now: datetime) -> list[Event]:
        self._check_up()
        events = []
        for ref in refs:
            job = self._held(ref, fence(Reason.RELEASE))
            if job is None:
                continue
            after = replace(job, state=_target(Reason.RELEASE), attempt=max(job.attempt - 1, 0), lease_token=None,
                            lease_expires_at=None, updated_at=now)
            events.append(self._move(Reason.RELEASE, job, after, now, attempt=job.attempt))
            breaker = self.breakers.get(job.queue)
            if breaker is not None and breaker.state is BreakerState.HALF_OPEN:  # a probe, given back
                self.breakers[job.queue] = replace(breaker, probes_leased=max(breaker.probes_leased - 1, 0))
        return events

    async def snooze(self, items: Sequence[tuple[LeaseRef, datetime]],
                     now: datetime) -> tuple[list[LeaseCall], list[Event]]:
        self._check_up()
        before = self._snapshot([ref for ref, _ in items])
        changed: dict[str, tuple[str, JobState, datetime | None]] = {}
        events = []
        for ref, run_at in items:
            job = self._held(ref, fence(Reason.SNOOZE))
            if job is None or job.id in changed:
                continue
            after = replace(job, state=_target(Reason.SNOOZE), run_at=run_at, attempt=max(job.attempt - 1, 0),
                            snoozes=job.snoozes + 1, lease_expires_at=None, updated_at=now)
            events.append(self._move(Reason.SNOOZE, job, after, now, attempt=job.attempt,
                                     ran=_since(self._leased_at.get(job.id), now)))
            changed[job.id] = (ref.lease_token, after.state, run_at)
        return self._calls([ref for ref, _ in items], before, changed), events

    async def complete(self, refs: Sequence[LeaseRef], now: datetime,
                       results: Sequence[bytes | None] | None = None) -> tuple[list[LeaseCall], list[Event]]:
        self._check_up()
        before = self._snapshot(refs)
        changed: dict[str, tuple[str, JobState, datetime | None]] = {}
        events = []
        for i, ref in enumerate(refs):
            job = self._held(ref, fence(Reason.ACK))
            if job is None or job.id in changed:
                continue
            after = replace(job, state=_target(Reason.ACK), finished_at=now, updated_at=now,
                            lease_expires_at=None, result=results[i] if results else None)
            events.append(self._move(Reason.ACK, job, after, now, ran=_since(self._leased_at.get(job.id), now)))
            changed[job.id] = (ref.lease_token, after.state, None)
        return self._calls(refs, before, changed), events + self._take_made()

    async def fail(self, items: Sequence[tuple[LeaseRef, Failure]], now: datetime,
                   decide: Decider) -> tuple[list[LeaseCall], list[Event]]:
        self._check_up()
        before = self._snapshot([ref for ref, _ in items])
        todo: dict[str, tuple[Job, Failure, str]] = {}
        for ref, failure in items:
            job = self._held(ref, fence(Reason.NACK))
            if job is not None:
                todo.setdefault(job.id, (job, failure, ref.lease_token))
        done = self._fail([(job, failure) for job, failure, _ in todo.values()], now, decide,
                          Reason.NACK, clear_token=False)
        changed = {}
        for job_id, (event, run_at) in done.items():
            at = run_at if event.to_state is P else None
            changed[job_id] = (todo[job_id][2], event.to_state, at)
        return self._calls([ref for ref, _ in items], before, changed), [e for e, _ in done.values()] + self._take_made()

    async def rescue_expired(self, now: datetime, limit: int, decide: Decider) -> list[Event]:
        self._check_up()
        sources = MOVES[Reason.EXPIRE].sources
        lapsed = sorted((j for j in self.jobs.values() if j.state in sources
                         and j.lease_expires_at is not None and j.lease_expires_at < now),
                        key=lambda j: (j.lease_expires_at, j.id))[:max(limit, 0)]
        done = self._fail([(j, LEASE_EXPIRED) for j in lapsed], now, decide, Reason.EXPIRE, clear_token=True)
        return [event for event, _ in done.values()] + self._take_made()

    def _fail(self, todo: list[tuple[Job, Failure]], now: datetime, decide: Decider, reason: Reason,
              clear_token: bool) -> dict[str, tuple[Event, datetime]]:
        # Decide everything before changing anything: one failing decision changes nothing.
        decisions = [decide(job, failure) for job, failure in todo]
        for (job, _), decision in zip(todo, decisions):
            check_transition(job.id, job.state, decision.to_state, reason)
        done = {}
        for (job, failure), decision in zip(todo, decisions):
            to, error = decision.to_state, decision.error or failure.error
            after = replace(
                job, state=to, run_at=decision.run_at or job.run_at, lease_expires_at=None,
                lease_token=None if clear_token else job.lease_token,
                lease_expiries=job.lease_expiries + (reason is Reason.EXPIRE),
                errors=job.errors + (AttemptError(job.attempt, error, now),),
                finished_at=now if to.finished else None, updated_at=now)
            event = self._move(reason, job, after, now, error=error,
                               ran=_since(self._leased_at.get(job.id), now))
            done[job.id] = (event, after.run_at)
        return done

    async def redrive(self, job_ids: Sequence[str], queue: str | None, reset_attempts: bool,
                      now: datetime) -> tuple[list[str], list[Event]]:
        self._check_up()
        redriven, events = [], []
        for job in self._targets(job_ids, queue, MOVES[Reason.REDRIVE].sources):
            after = replace(job, state=_target(Reason.REDRIVE), run_at=now, updated_at=now, finished_at=None,
                            lease_token=None, worker_id=None, attempt=0 if reset_attempts else job.attempt,
                            lease_expiries=0 if reset_attempts else job.lease_expiries)
            events.append(self._move(Reason.REDRIVE, job, after, now))
            redriven.append(job.id)
        return redriven, events

    async def cancel(self, job_id: str, now: datetime) -> tuple[Job | None, list[Event]]:
        self._check_up()
        job = self.jobs.get(job_id.lower())
        if job is None or job.state not in MOVES[Reason.CANCEL].sources:
            return job, []
        after = replace(job, state=_target(Reason.CANCEL), finished_at=now, updated_at=now, lease_expires_at=None)
        return after, [self._move(Reason.CANCEL, job, after, now)] + self._take_made()

    async def retry_now(self, job_id: str, now: datetime) -> tuple[Job | None, list[Event]]:
        self._check_up()
        job = self.jobs.get(job_id.lower())
        if job is None or job.state not in MOVES[Reason.RETRY_NOW].sources or job.run_at <= now:
            return job, []
        after = replace(job, state=_target(Reason.RETRY_NOW), run_at=now, updated_at=now)
        return after, [self._move(Reason.RETRY_NOW, job, after, now, operator=True)]

    async def purge(self, job_ids: Sequence[str], queue: str | None, state: JobState) -> int:
        self._check_up()
        return self._delete(self._targets(job_ids, queue, (state,)))

    async def prune(self, finished_before: datetime, limit: int) -> int:
        self._check_up()
        old = sorted((j for j in self.jobs.values()
                      if j.state in PRUNABLE and j.finished_at is not None and j.finished_at < finished_before),
                     key=lambda j: (j.finished_at, j.id))
        return self._delete(old[:max(limit, 0)])

    async def rotate_history(self, now: datetime, drop_before: datetime, width: float) -> int:
        """The fake's events leave with their jobs (prune, purge): there are no parts to drop."""
        self._check_up()
        return 0

    async def compact(self) -> list[str]:
        self._check_up()
        return []

    # -- reads ------------------------------------------------------------------------------

    async def get(self, job_id: str) -> Job | None:
        self._check_up()
        return self.jobs.get(job_id.lower())

    async def history(self, job_id: str) -> list[Event]:
        self._check_up()
        # The event log keeps no kind (as in PostgreSQL, where it is not a column of the log).
        return [replace(e, kind="") for e in self.events if e.job_id == job_id.lower()]

    async def get_with_history(self, job_id: str) -> tuple[Job | None, list[Event]]:
        job = await self.get(job_id)
        return job, (await self.history(job_id) if job else [])

    async def list_jobs(self, where: JobFilter, limit: int, after: tuple[datetime, str] | None,
                        now: datetime) -> list[Job]:
        self._check_up()
        if after is not None:
            after = (after[0].astimezone(timezone.utc), after[1])  # a naive time is local, as asyncpg has it
        found = [j for j in self.jobs.values()
                 if where.matches(j, now) and (after is None or (j.created_at, j.id) < (after[0], after[1].lower()))]
        found.sort(key=lambda j: (j.created_at, j.id), reverse=True)
        return found[:limit]

    async def count_jobs(self, where: JobFilter, cap: int, now: datetime) -> int:
        self._check_up()
        return min(cap, sum(1 for j in self.jobs.values() if where.matches(j, now)))

    async def stats(self, queues: Sequence[str], now: datetime) -> list[QueueStats]:
        self._check_up()
        wanted = set(queues)
        chosen = (lambda q: not wanted or q in wanted)
        jobs: dict[str, list[Job]] = {}
        for job in self.jobs.values():
            if chosen(job.queue):
                jobs.setdefault(job.queue, []).append(job)
        hour: dict[str, list[Event]] = {}
        for e in self.events:
            if chosen(e.queue) and now - timedelta(hours=1) < e.at <= now:
                hour.setdefault(e.queue, []).append(e)
        minute_start = now - timedelta(minutes=1)
        return [
            QueueStats(queue, **_state_counts(jobs.get(queue, []), now),
                       last_minute=_window([e for e in hour.get(queue, []) if e.at > minute_start]),
                       last_hour=_window(hour.get(queue, [])))
            for queue in sorted(set(jobs) | set(hour))
        ]

    async def throughput(self, queues: Sequence[str], since: datetime, now: datetime) -> list[MinuteCounts]:
        self._check_up()
        buckets: dict[tuple[datetime, str], list[Event]] = {}
        for e in self.events:
            if since < e.at <= now and (not queues or e.queue in queues):
                buckets.setdefault((e.at.replace(second=0, microsecond=0), e.queue), []).append(e)
        return [MinuteCounts(queue, minute, _window(found))
                for (minute, queue), found in sorted(buckets.items())]

    async def workers(self, now: datetime) -> list[WorkerLeases]:
        self._check_up()
        groups: dict[tuple[str, str], list[Job]] = {}
        for job in self.jobs.values():
            if job.state is R:
                groups.setdefault((job.worker_id, job.queue), []).append(job)
        return [WorkerLeases(worker, queue, len(held), max(self._heartbeats[j.id] for j in held))
                for (worker, queue), held in sorted(groups.items())]

    async def ping(self) -> None:
        self._check_up()

    # -- helpers ----------------------------------------------------------------------------

    def _check_up(self) -> None:
        if self.down:
            raise Unavailable("database unavailable: the in-memory store is down")

    def _put(self, job: Job) -> Job:
        self.jobs[job.id] = job
        return job

    def _log(self, event: Event) -> Event:
        """Keep the event with its id; the caller gets it as stores return events (id 0)."""
        self.events.append(replace(event, id=self._next_event_id))
        self._next_event_id += 1
        return event

    def _move(self, reason: Reason, before: Job | None, after: Job, now: datetime, error: str | None = None,
              waited: float | None = None, ran: float | None = None, attempt: int | None = None,
              progress: Progress | None = None, operator: bool = False) -> Event:
        """Carry out one move: checked against MOVES, stored, and written to the log as its event
        (with the job's attempt after the move, unless `attempt` says otherwise; an `operator`'s
        move names no worker)."""
        old = before.state if before is not None else None
        check_transition(after.id, old, after.state, reason)
        self._put(after)
        event = self._log(Event(after.id, after.queue, old, after.state, reason,
                                after.attempt if attempt is None else attempt, now, kind=after.kind,
                                worker_id=None if operator else after.worker_id, error=error, waited=waited, ran=ran, progress=progress))
        self._deliveries(reason, after, error, now)
        return event

    def _deliveries(self, reason: Reason, job: Job, error: str | None, now: datetime) -> None:
        """As infra/pg/callbacks_sql.py: a delivery job per subscription wanting the move's event,
        made with the move; the call returns their enqueue events after its own."""
        event = callback.event_of(reason, job.state, job.queue)
        for sub in (self.subscriptions[n] for n in sorted(self.subscriptions)) if event else ():
            if sub.wants(event, job.queue, job.kind):
                self.deliver(sub, event, callback.body(event, now, job.id, job.queue, job.kind, job.state,
                                                       job.attempt, job.result if job.state is S else None, error), now)

    def deliver(self, sub: Subscription, event: callback.CallbackEvent, body: dict, now: datetime) -> None:
        """A delivery job of `body` to `sub`; its enqueue event goes with the current call's."""
        delivery = Job(id=str(uuid.uuid4()), queue=callback.CALLBACK_QUEUE, kind=event.value,
                       payload=json.dumps(body).encode(), state=P, run_at=now,
                       headers={callback.SUBSCRIPTION_HEADER: sub.name}, max_attempts=sub.max_attempts,
                       retry=sub.retry, lease_duration=60.0, created_at=now, updated_at=now)
        self._made.append(self._move(Reason.ENQUEUE, None, delivery, now))

    def take_made(self) -> list[Event]:
        """The enqueue events of the deliveries made since last asked."""
        return self._take_made()

    def _take_made(self) -> list[Event]:
        made, self._made = self._made, []
        return made

    def _held(self, ref: LeaseRef, fenced: Fence) -> Job | None:
        """The job, when this lease call holds it (entities.lease.holds)."""
        job = self.jobs.get(ref.job_id.lower())
        if job is not None and holds(fenced.held, job.state, job.lease_token, ref.lease_token):
            return job
        return None

    def _snapshot(self, refs: Iterable[LeaseRef]) -> dict[str, Snapshot | None]:
        found = {}
        for ref in refs:
            job = self.jobs.get(ref.job_id.lower())
            found[ref.job_id.lower()] = job and Snapshot(job.state, job.lease_token, job.run_at)
        return found

    def _calls(self, refs: Sequence[LeaseRef], before: dict[str, Snapshot | None],
               changed: dict[str, tuple[str, JobState, datetime | None]]) -> list[LeaseCall]:
        """Per ref: changed when its token moved the job (job id -> token, new state, at)."""
        calls = []
        for ref in refs:
            job_id = ref.job_id.lower()
            token, state, at = changed.get(job_id, (None, None, None))
            if token is not None and token == ref.lease_token:
                calls.append(LeaseCall(ref, True, Snapshot(state, ref.lease_token), at))
            else:
                calls.append(LeaseCall(ref, False, before[job_id]))
        return calls

    def _targets(self, job_ids: Sequence[str], queue: str | None,
                 states: tuple[JobState, ...]) -> list[Job]:
        if queue is not None:
            found = [j for j in self.jobs.values() if j.queue == queue]
        else:
            ids = dict.fromkeys(i.lower() for i in job_ids)
            found = [self.jobs[i] for i in ids if i in self.jobs]
        return [j for j in found if j.state in states]

    def _delete(self, jobs: Sequence[Job]) -> int:
        gone = {j.id for j in jobs}
        for job in jobs:
            del self.jobs[job.id]
            self._heartbeats.pop(job.id, None)
            if job.idempotency_key is not None:
                self._keys.pop((job.queue, job.idempotency_key), None)
        self.events = [e for e in self.events if e.job_id not in gone]
        return len(gone)


def _state_counts(jobs: list[Job], now: datetime) -> dict:
    def count(test: Callable[[Job], bool]) -> int:
        return sum(1 for j in jobs if test(j))

    ready = [j.run_at for j in jobs if j.state is P and j.run_at <= now]
    return dict(
        ready=len(ready),
        scheduled=count(lambda j: j.state is P and j.run_at > now and j.attempt == 0),
        retrying=count(lambda j: j.state is P and j.run_at > now and j.attempt > 0),
        running=count(lambda j: j.state is R),
        succeeded=count(lambda j: j.state is S),
        dead=count(lambda j: j.state is D),
        cancelled=count(lambda j: j.state is C),
        oldest_ready_age=(now - min(ready)).total_seconds() if ready else 0.0,
    )


def _window(events: list[Event]) -> WindowCounts:
    return WindowCounts(
        enqueued=sum(1 for e in events if e.reason is Reason.ENQUEUE),
        succeeded=sum(1 for e in events if e.to_state is S),
        failed=sum(1 for e in events if e.reason in (Reason.NACK, Reason.EXPIRE)),
        dead_lettered=sum(1 for e in events if e.to_state is D),
    )


def _target(reason: Reason) -> JobState:
    """The one state a move leads to (Nack and expiry lead where `decide` says)."""
    (state,) = MOVES[reason].targets
    return state


def _since(then: datetime | None, now: datetime) -> float | None:
    return max(0.0, (now - then).total_seconds()) if then is not None else None
