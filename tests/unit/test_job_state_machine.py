"""A Hypothesis state machine drives jobs through the use cases over the in-memory store (which
the contract suite holds to PostgreSQL's behaviour): enqueue, lease, heartbeat, ack, nack, time
passing, the reaper, redrive, cancel and retry now, in any order. After every step:

- a running job is held under exactly one lease, the one the model saw handed out last;
- a call with a stale token changes nothing (job and event log as before);
- attempts never exceed max_attempts, lapsed leases never exceed max_lease_expiries, and
  lapsed leases are counted apart from nacks;
- every transition is in the event log exactly once, as the event sink was told of it, chained
  from the enqueue to the job's current state through legal transitions only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from broker.entities.errors import FailedPrecondition, IllegalTransition
from broker.entities.job import JobState, Reason, is_legal
from broker.entities.lease import LeaseRef, Outcome
from broker.entities.queue import QueueConfig, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy
from broker.usecases.enqueue import JobSpec
from broker.usecases.lease import LeaseRequest
from broker.usecases.nack import NackItem
from tests.unit.conftest import World

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
QUEUES = st.sampled_from(["alpha", "beta"])
WORKERS = st.sampled_from(["w1", "w2", "w3"])
PICK = st.integers(min_value=0, max_value=10**6)
DEFAULTS = QueueDefaults(max_attempts=3, retry=RetryPolicy(1.0, 8.0, 2.0, Jitter.FULL), lease_duration=10.0,
                         max_lease_expiries=2)


def run(coroutine):
    """Finish an interactor call that never has to wait (in-memory store, no long poll)."""
    try:
        coroutine.send(None)
    except StopIteration as finished:
        return finished.value
    coroutine.close()
    raise AssertionError("the call waited for something")


def plain(event):
    return replace(event, id=0, kind="")


class JobLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # Claims without coalescing: a coalesced claim runs in a task, and these calls run without a loop.
        self.w = World(queues=QueueConfig(default=DEFAULTS), claimers=0)
        self.ids: list[str] = []
        self.keys: dict[tuple[str, str], str] = {}
        self.leases: list[LeaseRef] = []        # every lease ever handed out
        self.holder: dict[str, LeaseRef] = {}   # running job -> the lease it is held under

    @property
    def jobs(self):
        return self.w.store.jobs

    # -- rules ---------------------------------------------------------------------------------

    @rule(queue=QUEUES, count=st.integers(1, 3), key=st.sampled_from([None, None, "k1", "k2"]),
          delay=st.sampled_from([0, 0, 4]), max_attempts=st.integers(1, 3))
    def enqueue(self, queue, count, key, delay, max_attempts):
        run_at = self.w.clock.now() + timedelta(seconds=delay)
        specs = [JobSpec(queue, "task", idempotency_key=key, run_at=run_at, max_attempts=max_attempts)
                 for _ in range(count)]
        for inserted in run(self.w.enqueue(specs)):
            known = self.keys.get((queue, key)) if key else None
            assert (inserted.created, inserted.job_id if known else None) == (known is None, known)
            if inserted.created:
                self.ids.append(inserted.job_id)
                if key:
                    self.keys[(queue, key)] = inserted.job_id

    @rule(queue=QUEUES, worker=WORKERS, max_jobs=st.integers(1, 4))
    def lease(self, queue, worker, max_jobs):
        now = self.w.clock.now()
        ready = {j.id for j in self.jobs.values() if j.queue == queue and j.state is P and j.run_at <= now}

        jobs = run(self.w.lease(LeaseRequest((queue,), worker, max_jobs)))

        assert {j.id for j in jobs} <= ready
        assert len(jobs) == min(max_jobs, len(ready))
        for job in jobs:
            assert job.id not in self.holder, "leased to two holders"
            lease = LeaseRef(job.id, job.lease_token)
            assert lease not in self.leases
            self.leases.append(lease)
            self.holder[job.id] = lease

    @precondition(lambda self: self.leases)
    @rule(pick=PICK)
    def heartbeat(self, pick):
        lease = self.leases[pick % len(self.leases)]
        held, result = self._lease_call(lease, self.w.heartbeat([lease]), ())
        if held:
            assert result.outcome is Outcome.OK
            assert self.jobs[lease.job_id].lease_expires_at == self.w.clock.now() + timedelta(seconds=10)

    @precondition(lambda self: self.leases)
    @rule(pick=PICK)
    def ack(self, pick):
        lease = self.leases[pick % len(self.leases)]
        held, result = self._lease_call(lease, self.w.ack([lease]), (S,))
        if held:
            assert (result.outcome, self.jobs[lease.job_id].state) == (Outcome.OK, S)
            del self.holder[lease.job_id]

    @precondition(lambda self: self.leases)
    @rule(pick=PICK, permanent=st.booleans(), retry_after=st.sampled_from([None, None, 0.0, 3.0]))
    def nack(self, pick, permanent, retry_after):
        lease = self.leases[pick % len(self.leases)]
        before = self.jobs.get(lease.job_id)
        item = NackItem(lease, "failed", permanent, retry_after)
        held, result = self._lease_call(lease, self.w.nack([item]), (P, D))
        if held:
            dead = permanent or before.attempt >= before.max_attempts
            assert (result.outcome, self.jobs[lease.job_id].state) == (Outcome.OK, D if dead else P)
            if retry_after is not None and not dead:
                assert result.at == self.w.clock.now() + timedelta(seconds=retry_after)
            del self.holder[lease.job_id]

    @rule(seconds=st.sampled_from([1, 3, 9, 11, 30]))
    def time_passes(self, seconds):
        self.w.clock.advance(seconds)

    @rule(seconds=st.sampled_from([0, 1, 11]))
    def reaper_runs(self, seconds):
        now = self.w.clock.advance(seconds)
        lapsed = {i for i in self.holder if self.jobs[i].lease_expires_at < now}

        assert run(self.w.reap.run_once()) == len(lapsed)

        for job_id in lapsed:
            job = self.jobs[job_id]
            assert job.state in (P, D) and job.lease_token is None
            assert job.state is D or job.attempt < job.max_attempts
            assert job.state is D or job.lease_expiries < job.max_lease_expiries
            del self.holder[job_id]
        assert all(self.jobs[i].state is R for i in self.holder)

    @precondition(lambda self: self.ids)
    @rule(pick=PICK)
    def redrive(self, pick):
        job_id = self.ids[pick % len(self.ids)]
        before = self.jobs[job_id]

        redriven = run(self.w.redrive([job_id], None))

        if before.state is D:
            assert redriven == [job_id]
            after = self.jobs[job_id]
            assert (after.state, after.attempt, after.run_at) == (P, 0, self.w.clock.now())
        else:
            assert redriven == [] and self.jobs[job_id] == before

    @precondition(lambda self: self.ids)
    @rule(pick=PICK)
    def cancel(self, pick):
        job_id = self.ids[pick % len(self.ids)]
        before = self.jobs[job_id]
        events = len(self.w.store.events)
        try:
            job = run(self.w.cancel(job_id))
        except IllegalTransition:
            assert before.state in (S, D)
            assert self.jobs[job_id] == before and len(self.w.store.events) == events
            return
        assert job.state is C
        if before.state is C:
            assert job == before and len(self.w.store.events) == events
        self.holder.pop(job_id, None)

    @precondition(lambda self: self.ids)
    @rule(pick=PICK)
    def retry_now(self, pick):
        job_id = self.ids[pick % len(self.ids)]
        before, now = self.jobs[job_id], self.w.clock.now()
        events = len(self.w.store.events)
        try:
            job = run(self.w.retry(job_id))
        except FailedPrecondition:
            assert before.state not in (P, D) or (before.state is P and before.run_at <= now)
            assert self.jobs[job_id] == before and len(self.w.store.events) == events
            return
        assert (job.state, job.run_at) == (P, now) and len(self.w.store.events) == events + 1
        assert job.attempt == (0 if before.state is D else before.attempt)

    def _lease_call(self, lease, call, done_states):
        """Make a lease call; unless the lease is held, check that it changed nothing."""
        before = self.jobs.get(lease.job_id)
        events = list(self.w.store.events)
        held = self.holder.get(lease.job_id) == lease

        (result,) = run(call)

        if not held:
            assert self.jobs.get(lease.job_id) == before, "a stale token changed the job"
            assert self.w.store.events == events, "a stale token wrote an event"
            repeat = before.lease_token == lease.lease_token and before.state in done_states
            assert result.outcome is (Outcome.OK if repeat else Outcome.LOST)
        return held, result

    # -- invariants ----------------------------------------------------------------------------

    @invariant()
    def each_running_job_has_one_holder(self):
        for job_id, job in self.jobs.items():
            if job.state is R:
                assert self.holder[job_id].lease_token == job.lease_token
                assert job.lease_expires_at is not None and job.worker_id
            else:
                assert job_id not in self.holder
        tokens = [lease.lease_token for lease in self.leases]
        assert len(set(tokens)) == len(tokens)

    @invariant()
    def attempts_stay_within_max(self):
        assert all(0 <= j.attempt <= j.max_attempts for j in self.jobs.values())
        assert all(0 <= j.lease_expiries <= j.max_lease_expiries for j in self.jobs.values())

    @invariant()
    def lapsed_leases_are_counted_apart_from_nacks(self):
        for job_id in self.ids:
            history = run(self.w.store.history(job_id))
            redrives = [n for n, e in enumerate(history) if e.reason is Reason.REDRIVE]
            since = history[redrives[-1]:] if redrives else history  # a redrive resets the count
            assert self.jobs[job_id].lease_expiries == sum(e.reason is Reason.EXPIRE for e in since)

    @invariant()
    def every_transition_is_recorded_once(self):
        for job_id in self.ids:
            history = run(self.w.store.history(job_id))
            assert [plain(e) for e in history] == [plain(e) for e in self.w.sink.for_job(job_id)]
            assert history[0].reason is Reason.ENQUEUE
            previous = None
            for event in history:
                assert event.from_state is previous
                assert is_legal(event.from_state, event.to_state, event.reason)
                previous = event.to_state
            assert previous is self.jobs[job_id].state
            assert sum(e.reason is Reason.LEASE for e in history) >= self.jobs[job_id].attempt


JobLife.TestCase.settings = settings(max_examples=120, stateful_step_count=40, deadline=None,
                                     suppress_health_check=[HealthCheck.too_slow])
TestJobLife = JobLife.TestCase
