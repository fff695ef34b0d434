"""Both stores carry out the entities' moves (broker.entities.job.MOVES) as they are defined, and
only so: a job in every state meets every move, and what may happen is read from MOVES. The same
runs with moves changed, as an edit to job.py would change them (sql.py renders its statements
again), so a store that restated a move instead of reading it fails here."""

from __future__ import annotations

import importlib

import pytest

from broker.entities.errors import IllegalTransition
from broker.entities.job import MOVES, JobState, Move, Reason
from broker.entities.lease import Failure, FailureDecision
from broker.entities.progress import Progress
from broker.infra.pg import callbacks_sql, claim_many, operator_sql, sql, worker_sql
from tests.contract.helpers import decide, in_state, new_job, plain, ref, running, seconds

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)


@pytest.fixture
def change_moves(monkeypatch):
    """Replace moves in MOVES and render sql.py's statements from them (and callbacks_sql.py's
    from those); all undone afterwards."""
    def change(*moves: Move) -> None:
        for move in moves:
            monkeypatch.setitem(MOVES, move.reason, move)
        _render()

    yield change
    monkeypatch.undo()
    _render()


def _render() -> None:
    for module in (sql, worker_sql, operator_sql, callbacks_sql, claim_many):
        importlib.reload(module)


async def attempt(store, reason: Reason, job, now) -> list:
    """Try the move `reason` on `job` through the store; the events the store returned."""
    if reason is Reason.LEASE:
        return (await store.claim([job.queue], "w2", 10, None, now))[1]
    if reason is Reason.ACK:
        return (await store.complete([ref(job)], now))[1]
    if reason is Reason.NACK:
        return (await store.fail([(ref(job), Failure("again", retry_after=5.0))], now, decide(now)))[1]
    if reason is Reason.EXPIRE:  # every lapsed lease of this test's time: this job's event only
        return [e for e in await store.rescue_expired(now, 1000, decide(now)) if e.job_id == job.id]
    if reason is Reason.REDRIVE:
        return (await store.redrive([job.id], None, True, now))[1]
    if reason is Reason.SNOOZE:
        return (await store.snooze([(ref(job), seconds(now, 60))], now))[1]
    if reason is Reason.RELEASE:
        return await store.release([ref(job)], now)
    if reason is Reason.PROGRESS:
        return (await store.extend_with_progress([ref(job)], [Progress(0.5, "half")], None, now))[1]
    if reason is Reason.RETRY_NOW:  # before the job's run_at (these are all due at t0): it is to come
        return (await store.retry_now(job.id, seconds(job.run_at, -1)))[1]
    assert reason is Reason.CANCEL
    return (await store.cancel(job.id, now))[1]


VARIANTS = {
    "as defined": (),
    "cancel only pending jobs": (Move(Reason.CANCEL, (P,), (C,)),),
    "cancel dead jobs too": (Move(Reason.CANCEL, (P, R, D), (C,)),),
    "redrive cancelled jobs instead of dead ones": (Move(Reason.REDRIVE, (C,), (P,)),),
    "retry dead jobs now too": (Move(Reason.RETRY_NOW, (P, D), (P,)),),
}


@pytest.mark.parametrize("variant", VARIANTS)
async def test_every_move_happens_exactly_from_the_states_it_leaves(store, queue, t0, change_moves, variant):
    # Only the leases of the jobs that meet EXPIRE lapse (10 s) before `now`; the running one
    # meets each move first, so the reaper's pass for it is the one that takes its lease.
    states = sorted(JobState, key=lambda s: s is not R)
    jobs = {(reason, state): await in_state(store, f"{queue}-{reason.value}-{state.value}", t0, state,
                                            10.0 if reason is Reason.EXPIRE else 30.0)
            for reason in MOVES if reason is not Reason.ENQUEUE for state in states}
    change_moves(*VARIANTS[variant])
    now = seconds(t0, 20)

    for (reason, state), job in jobs.items():
        move = MOVES[reason]
        events = await attempt(store, reason, job, now)
        after = await store.get(job.id)
        may = state in move.sources and (reason is not Reason.EXPIRE or job.lease_expires_at is not None)
        if not may:
            assert (events, after) == ([], job), (variant, reason, state)
            continue
        assert len(events) == 1, (variant, reason, state, events)
        (event,) = events
        assert (event.job_id, event.from_state, event.reason) == (job.id, state, reason), (variant, reason, state)
        assert event.to_state is after.state and after.state in move.targets
        assert plain(event) == plain((await store.history(job.id))[-1])


async def test_enqueue_leads_to_the_state_its_move_names(store, queue, t0):
    (job_id,) = [i.job_id for i in (await store.enqueue([new_job(queue, t0)], t0))[0]]
    (event,) = await store.history(job_id)
    assert (event.from_state, event.to_state, event.reason) == (None, *MOVES[Reason.ENQUEUE].targets, Reason.ENQUEUE)


async def test_a_decision_the_move_does_not_lead_to_is_refused_and_changes_nothing(store, queue, t0, change_moves):
    job = await running(store, queue, t0)
    change_moves(Move(Reason.NACK, (R,), (P,)))  # a nack could only retry

    with pytest.raises(IllegalTransition):
        await store.fail([(ref(job), Failure("x"))], t0, lambda j, f: FailureDecision(D, None))

    assert await store.get(job.id) == job
    assert len(await store.history(job.id)) == 2

