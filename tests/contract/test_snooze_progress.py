"""snooze and extend_with_progress against both stores: a snooze gives the lease's attempt back
and is fenced like the other lease calls; progress is kept with the job and is an event only
when it changed."""

from __future__ import annotations

import uuid

from broker.entities.job import JobState, Reason
from broker.entities.lease import Failure, LeaseRef, Outcome, Snapshot, classify
from broker.entities.progress import Progress
from broker.usecases.ports import LeaseCall
from tests.contract.helpers import decide, in_state, lease, ref, running, seconds, trail

P, R, S, D = JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD
UNKNOWN = str(uuid.uuid4())


# -- snooze ---------------------------------------------------------------------------------


async def test_snooze_hands_the_job_back_for_later_and_gives_its_attempt_back(store, queue, t0):
    job = await running(store, queue, t0)
    now, later = seconds(t0, 5), seconds(t0, 65)

    (call,), events = await store.snooze([(ref(job), later)], now)

    assert call == LeaseCall(ref(job), True, Snapshot(P, job.lease_token), later)
    assert trail(events) == [(job.id, R, P, Reason.SNOOZE, 1, "w1", None, now)]
    assert events[0].ran == 5.0
    after = await store.get(job.id)
    assert (after.state, after.run_at, after.attempt, after.snoozes) == (P, later, 0, 1)
    assert (after.lease_expires_at, after.lease_token, after.errors) == (None, job.lease_token, ())
    assert await store.claim([queue], "w2", 1, None, seconds(later, -1)) == ([], [])
    (again,) = await lease(store, queue, later, worker="w2")
    assert (again.attempt, again.snoozes, again.worker_id) == (1, 1, "w2")
    assert [e.reason for e in await store.history(job.id)] == [
        Reason.ENQUEUE, Reason.LEASE, Reason.SNOOZE, Reason.LEASE]


async def test_a_repeated_snooze_changes_nothing_and_is_ok(store, queue, t0):
    job = await running(store, queue, t0)
    later = seconds(t0, 60)
    await store.snooze([(ref(job), later)], t0)

    (repeat,), events = await store.snooze([(ref(job), seconds(t0, 999))], seconds(t0, 1))

    assert events == []
    assert repeat == LeaseCall(ref(job), False, Snapshot(P, job.lease_token, later))
    result = classify(repeat.ref, repeat.changed, repeat.snapshot, (P,))
    assert (result.outcome, result.at) == (Outcome.OK, later)
    after = await store.get(job.id)
    assert (after.run_at, after.snoozes, after.attempt) == (later, 1, 0)


async def test_snooze_refuses_stale_tokens_unknown_jobs_and_jobs_not_running(store, queue, t0):
    job = await running(store, queue, t0)
    done = await in_state(store, queue + "-done", t0, S)
    stale = LeaseRef(job.id, str(uuid.uuid4()))
    later = seconds(t0, 60)

    calls, events = await store.snooze([(stale, later), (LeaseRef(UNKNOWN, job.lease_token), later),
                                        (ref(done), later)], t0)

    assert events == []
    assert [c.changed for c in calls] == [False, False, False]
    assert [classify(c.ref, c.changed, c.snapshot, (P,)).outcome for c in calls] == [
        Outcome.LOST, Outcome.NOT_FOUND, Outcome.LOST]
    assert (await store.get(job.id)).state is R


async def test_snoozes_never_use_up_attempts(store, queue, t0):
    job = await running(store, queue, t0, max_attempts=1)
    now = t0
    for n in range(4):
        await store.snooze([(ref(job), now)], now)
        (job,) = await lease(store, queue, now)
        assert (job.attempt, job.snoozes) == (1, n + 1)
    (call,), events = await store.fail([(ref(job), Failure("boom"))], now, decide(now))
    assert [(e.to_state, e.attempt) for e in events] == [(D, 1)]


async def test_a_lease_named_twice_in_one_snooze_takes_the_first_delay(store, queue, t0):
    job = await running(store, queue, t0)
    first, second = seconds(t0, 10), seconds(t0, 20)

    calls, events = await store.snooze([(ref(job), first), (ref(job), second)], t0)

    assert len(events) == 1 and (await store.get(job.id)).run_at == first
    assert calls[0].changed


# -- progress -------------------------------------------------------------------------------


async def test_progress_is_kept_and_is_an_event_only_when_it_changes(store, queue, t0):
    job = await running(store, queue, t0)
    half = Progress(0.5, "halfway")

    (call,), first = await store.extend_with_progress([ref(job)], [half], None, seconds(t0, 1))
    _, same = await store.extend_with_progress([ref(job)], [Progress(0.5, "halfway")], None, seconds(t0, 2))
    _, none = await store.extend_with_progress([ref(job)], [None], None, seconds(t0, 3))
    _, moved = await store.extend_with_progress([ref(job)], [Progress(0.5, "still halfway")], None,
                                                seconds(t0, 4))

    assert call == LeaseCall(ref(job), True, Snapshot(R, job.lease_token), seconds(t0, 31))
    assert trail(first) == [(job.id, R, R, Reason.PROGRESS, 1, "w1", None, seconds(t0, 1))]
    assert first[0].progress == Progress(0.5, "halfway", seconds(t0, 1))
    assert (same, none) == ([], [])
    assert [e.progress for e in moved] == [Progress(0.5, "still halfway", seconds(t0, 4))]
    after = await store.get(job.id)
    assert after.progress == Progress(0.5, "still halfway", seconds(t0, 4))
    assert after.lease_expires_at == seconds(t0, 34)
    history = await store.history(job.id)
    assert [(e.reason, e.progress) for e in history[2:]] == [
        (Reason.PROGRESS, Progress(0.5, "halfway", seconds(t0, 1))),
        (Reason.PROGRESS, Progress(0.5, "still halfway", seconds(t0, 4)))]


async def test_a_new_lease_starts_without_progress(store, queue, t0):
    job = await running(store, queue, t0)
    await store.extend_with_progress([ref(job)], [Progress(0.9, "nearly")], None, t0)
    await store.snooze([(ref(job), t0)], t0)
    assert (await store.get(job.id)).progress.fraction == 0.9  # the last attempt's, until a lease
    (again,) = await lease(store, queue, t0)
    assert again.progress is None

    _, events = await store.extend_with_progress([ref(again)], [Progress(0.9, "nearly")], None, seconds(t0, 1))
    assert [e.progress.fraction for e in events] == [0.9]  # a change against the new attempt's none


async def test_progress_under_a_stale_token_changes_nothing(store, queue, t0):
    job = await running(store, queue, t0)
    stale = LeaseRef(job.id, str(uuid.uuid4()))

    (call,), events = await store.extend_with_progress([stale], [Progress(1.0, "done")], None, t0)

    assert (call.changed, events) == (False, [])
    assert classify(call.ref, call.changed, call.snapshot, ()).outcome is Outcome.LOST
    after = await store.get(job.id)
    assert (after.progress, after.lease_expires_at) == (None, job.lease_expires_at)


async def test_a_lease_named_twice_keeps_its_first_naming_with_progress(store, queue, t0):
    job = await running(store, queue, t0)

    calls, events = await store.extend_with_progress(
        [ref(job), ref(job), ref(job)], [None, Progress(0.25, "a"), Progress(0.75, "b")], None, t0)

    assert [c.changed for c in calls] == [True, True, True]
    assert [e.progress.message for e in events] == ["a"]
    assert (await store.get(job.id)).progress.message == "a"
