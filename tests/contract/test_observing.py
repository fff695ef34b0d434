"""What operators see: stats by state and over the last minute and hour, workers, and a job's
history with exactly one event per transition."""

from __future__ import annotations

from datetime import timedelta

from broker.entities.job import JobState, Reason, is_legal
from broker.entities.lease import Failure
from broker.entities.stats import QueueStats, WindowCounts, WorkerLeases
from tests.contract.helpers import add, decide, new_job, plain, ref, seconds

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
WAITS = 100  # priority of the jobs that stay pending, so each claim below takes the one job meant


async def test_stats_count_states_and_the_events_of_the_last_minute_and_hour(store, queue, t0):
    now = t0 + timedelta(hours=2)
    half, minute_edge, recent = now - timedelta(minutes=30), now - timedelta(seconds=60), now - timedelta(seconds=10)

    async def claim(at, **fields):
        await add(store, queue, at, **fields)
        (job,), _ = await store.claim([queue], "w", 1, None, at)
        return job

    await store.complete([ref(await claim(t0))], t0)                                   # older than an hour
    await add(store, queue, now - timedelta(hours=1), priority=WAITS)                   # ready; event at the edge
    b = await claim(half)
    await store.fail([(ref(b), Failure("busy", retry_after=7200))], half, decide(half))  # retrying
    c = await claim(half, max_attempts=1)
    await store.fail([(ref(c), Failure("bad"))], half, decide(half))                     # dead
    await claim(half, lease_duration=60.0, priority=WAITS - 1)
    await store.rescue_expired(seconds(half, 61), 1000, decide(seconds(half, 61)))       # lapsed: ready again
    await add(store, queue, minute_edge, run_at=seconds(now, 10), priority=WAITS)        # scheduled
    await add(store, queue, recent, priority=WAITS)                                      # ready
    await add(store, queue, recent, run_at=seconds(now, 60))                             # scheduled
    await claim(recent)                                                                 # running
    await store.complete([ref(await claim(recent))], recent)                            # succeeded
    (h,) = await add(store, queue, recent, run_at=seconds(now, 999))
    await store.cancel(h, recent)                                                       # cancelled
    await add(store, queue, seconds(now, 5), run_at=seconds(now, 5))                    # enqueued later

    (stats,) = await store.stats([queue], now)

    assert stats == QueueStats(
        queue=queue, ready=3, scheduled=3, retrying=1, running=1, succeeded=2, dead=1, cancelled=1,
        oldest_ready_age=3600.0,
        last_minute=WindowCounts(enqueued=5, succeeded=1, failed=0, dead_lettered=0),
        last_hour=WindowCounts(enqueued=9, succeeded=1, failed=3, dead_lettered=1),
    )
    assert stats.last_hour.failure_rate == 0.75


async def test_stats_name_each_asked_queue_that_has_jobs(store, queue, t0):
    await add(store, queue + "-b", t0, count=2)
    await add(store, queue + "-a", seconds(t0, -5))

    found = await store.stats([queue + "-b", queue + "-a", queue + "-empty"], t0)
    everything = await store.stats([], t0)

    assert [(s.queue, s.ready, s.oldest_ready_age, s.last_minute.enqueued) for s in found] == [
        (queue + "-a", 1, 5.0, 1), (queue + "-b", 2, 0.0, 2)]
    assert {queue + "-a", queue + "-b"} <= {s.queue for s in everything}


async def test_stats_of_a_queue_without_jobs_or_recent_events(store, queue, t0):
    assert await store.stats([queue], t0) == []


async def test_workers_count_leases_by_worker_and_queue_with_the_last_heartbeat(store, queue, t0):
    other = queue + "-b"
    await add(store, queue, t0, count=3)
    await add(store, other, t0)
    first, _ = await store.claim([queue], "alpha", 2, None, t0)
    (solo,), _ = await store.claim([queue], "beta", 1, None, seconds(t0, 5))
    await store.claim([other], "alpha", 1, None, seconds(t0, 7))
    await store.extend([ref(first[1])], None, seconds(t0, 20))

    found = [w for w in await store.workers(seconds(t0, 30)) if w.queue in (queue, other)]

    assert found == [WorkerLeases("alpha", queue, 2, seconds(t0, 20)), WorkerLeases("alpha", other, 1, seconds(t0, 7)),
                     WorkerLeases("beta", queue, 1, seconds(t0, 5))]
    await store.complete([ref(solo)], seconds(t0, 31))
    assert "beta" not in {w.worker_id for w in await store.workers(seconds(t0, 31)) if w.queue == queue}


async def test_history_has_one_event_per_transition_in_order(store, queue, t0):
    (inserted,), returned = await store.enqueue([new_job(queue, t0)], t0)
    job_id, now = inserted.job_id, t0

    async def lease_as(worker):
        jobs, events = await store.claim([queue], worker, 1, None, now)
        returned.extend(events)
        return jobs[0]

    job = await lease_as("w1")
    now = seconds(now, 1)
    returned += (await store.fail([(ref(job), Failure("first"))], now, decide(now)))[1]
    now = seconds(now, 2)
    await lease_as("w2")
    now = seconds(now, 31)
    returned += await store.rescue_expired(now, 1000, decide(now))
    now = seconds(now, 6)
    job = await lease_as("w3")
    returned += (await store.fail([(ref(job), Failure("third"))], now, decide(now)))[1]
    now = seconds(now, 1)
    returned += (await store.redrive([job_id], None, True, now))[1]
    job = await lease_as("w4")
    now = seconds(now, 1)
    returned += (await store.complete([ref(job)], now))[1]

    history = await store.history(job_id)

    assert [plain(e) for e in history] == [plain(e) for e in returned if e.job_id == job_id]
    assert [(e.from_state, e.to_state, e.reason, e.attempt, e.worker_id, e.error) for e in history] == [
        (None, P, Reason.ENQUEUE, 0, None, None),
        (P, R, Reason.LEASE, 1, "w1", None),
        (R, P, Reason.NACK, 1, "w1", "first"),
        (P, R, Reason.LEASE, 2, "w2", None),
        (R, P, Reason.EXPIRE, 2, "w2", "lease expired"),
        (P, R, Reason.LEASE, 3, "w3", None),
        (R, D, Reason.NACK, 3, "w3", "third"),
        (D, P, Reason.REDRIVE, 0, None, None),
        (P, R, Reason.LEASE, 1, "w4", None),
        (R, S, Reason.ACK, 1, "w4", None),
    ]
    assert all(is_legal(e.from_state, e.to_state, e.reason) for e in history)
    assert [e.at for e in history] == sorted(e.at for e in history)
    assert len({e.id for e in history}) == len(history) and all(e.id for e in history)
    assert (await store.get(job_id)).state is history[-1].to_state


async def test_a_cancel_is_one_event_from_where_the_job_was(store, queue, t0):
    (waiting,) = await add(store, queue, t0)
    await store.cancel(waiting, t0)
    (working,) = await add(store, queue, seconds(t0, 1))
    await store.claim([queue], "w1", 1, None, seconds(t0, 1))
    await store.cancel(working, seconds(t0, 2))
    await store.cancel(working, seconds(t0, 3))

    assert [(e.from_state, e.to_state) for e in await store.history(waiting)] == [(None, P), (P, C)]
    assert [(e.from_state, e.to_state) for e in await store.history(working)] == [(None, P), (P, R), (R, C)]


async def test_events_carry_how_long_a_job_waited_and_ran(store, queue, t0):
    await store.enqueue([new_job(queue, run_at=t0)], t0)
    [job], [leased] = await store.claim([queue], "w", 1, None, seconds(t0, 3))
    assert leased.waited == 3.0
    _, [acked] = await store.complete([ref(job)], seconds(t0, 10))
    assert acked.ran == 7.0


async def test_throughput_counts_events_by_minute(store, queue, t0):
    minute = t0.replace(second=0, microsecond=0)
    await store.enqueue([new_job(queue, run_at=minute), new_job(queue, run_at=minute)], seconds(minute, 5))
    [job], _ = await store.claim([queue], "w", 1, None, seconds(minute, 70))
    await store.complete([ref(job)], seconds(minute, 80))
    found = await store.throughput([queue], seconds(minute, -60), seconds(minute, 300))
    assert [(m.minute, m.counts.enqueued, m.counts.succeeded) for m in found] == [
        (minute, 2, 0), (seconds(minute, 60), 0, 1)]
