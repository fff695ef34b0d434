"""Delivery: the long poll's own re-check interval, what wakes waiting long polls, and the limit on
lapsed leases that makes a job that crashes or hangs its workers a poison job."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState
from broker.entities.lease import LEASE_EXPIRED, Failure, FailureDecision, LeaseRef, decide_failure
from broker.entities.queue import QueueConfig, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra import settings as settings_mod
from broker.usecases.lease import RECHECK_SECONDS, LeaseJobs, LeaseRequest
from broker.usecases.nack import NackItem
from tests.unit.conftest import World

P, D = JobState.PENDING, JobState.DEAD


def test_the_long_poll_recheck_is_a_setting():
    assert settings_mod.load({}).server.long_poll_recheck == RECHECK_SECONDS == 0.5
    assert settings_mod.load({"BROKER_LONG_POLL_RECHECK": "30"}).server.long_poll_recheck == 30.0


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_long_poll_recheck_stops_start_up_naming_it(value):
    with pytest.raises(settings_mod.SettingsError, match="BROKER_LONG_POLL_RECHECK"):
        settings_mod.load({"BROKER_LONG_POLL_RECHECK": value})


async def test_a_long_poll_looks_again_at_the_interval_it_is_given(world: World):
    lease = LeaseJobs(world.store, world.clock, world.notifier, world.sink, world.limits, recheck=4.0)
    start = world.clock.now()

    assert await lease(LeaseRequest(("steady",), "w1", 1, wait=10.0)) == []

    assert [timeout for _, timeout in world.notifier.waits] == [4.0, 4.0, 2.0]
    assert world.clock.now() - start == timedelta(seconds=10)


async def test_a_nack_wakes_this_replicas_long_polls_only_for_a_retry_due_now(world: World):
    await world.add("due")
    await world.add("steady")  # backoff 1 s
    await world.add("gone")
    (due,), (later,), (gone,) = [await world.take(q) for q in ("due", "steady", "gone")]
    world.notifier.notified.clear()

    await world.nack([NackItem(LeaseRef(due.id, due.lease_token), "busy", retry_after=0.0),
                      NackItem(LeaseRef(later.id, later.lease_token), "busy"),
                      NackItem(LeaseRef(gone.id, gone.lease_token), "fatal", permanent=True)])

    assert world.notifier.notified == [["due"]]


# -- poison jobs: lapsed leases have a limit of their own ------------------------------------

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
NO_JITTER = RetryPolicy(1.0, 60.0, 2.0, Jitter.NONE)


def decide(attempt, lapsed_before, failure, max_attempts=10, limit=3):
    return decide_failure(attempt, max_attempts, NO_JITTER, failure, NOW,
                          lease_expiries=lapsed_before, max_lease_expiries=limit)


def test_a_job_goes_dead_when_its_lapsed_leases_reach_the_limit_with_attempts_left():
    assert decide(2, 1, LEASE_EXPIRED) == FailureDecision(P, NOW + timedelta(seconds=2))
    assert decide(3, 2, LEASE_EXPIRED) == FailureDecision(
        D, None, "lease expired 3 times (max_lease_expiries 3): poison job")


def test_nacks_do_not_count_toward_the_lapsed_lease_limit():
    assert decide(3, 2, Failure("boom")).to_state is P
    assert decide(9, 5, Failure("boom")).to_state is P
    assert decide(10, 5, Failure("boom")) == FailureDecision(D, None)  # attempts used up


def test_without_a_limit_only_the_attempts_count():
    assert decide(9, 8, LEASE_EXPIRED, limit=None).to_state is P
    assert decide(10, 9, LEASE_EXPIRED, limit=None) == FailureDecision(D, None)


def test_a_permanent_failure_or_used_up_attempts_say_nothing_of_poison():
    assert decide(1, 0, Failure("bad", permanent=True)) == FailureDecision(D, None)
    assert decide(2, 0, LEASE_EXPIRED, max_attempts=2) == FailureDecision(D, None)


async def test_the_lapsed_lease_limit_comes_from_the_queue_unless_the_job_sets_it():
    world = World(queues=QueueConfig(overrides={"fragile": QueueDefaults(max_lease_expiries=2)}))
    (plain,) = await world.add("plain")
    (fragile,) = await world.add("fragile")
    (own,) = await world.add("fragile", max_lease_expiries=7)

    limits = [(await world.store.get(job_id)).max_lease_expiries for job_id in (plain, fragile, own)]

    assert limits == [QueueDefaults().max_lease_expiries, 2, 7] and QueueDefaults().max_lease_expiries == 5


@pytest.mark.parametrize("value", [-1, 1001])
async def test_a_lapsed_lease_limit_out_of_range_is_refused_and_changes_nothing(world: World, value):
    with pytest.raises(InvalidArgument, match=r"jobs\[0\]\.max_lease_expiries"):
        await world.add("steady", max_lease_expiries=value)
    assert world.store.jobs == {}


async def test_the_reaper_makes_a_poison_job_dead_through_the_use_cases(world: World):
    (job_id,) = await world.add("steady", max_lease_expiries=2)  # steady: 3 attempts, 1 s, 2 s backoff
    for lapse in (1, 2):
        await world.take("steady")
        world.clock.advance(31)
        assert await world.reap.run_once() == 1
        world.clock.advance(2)

    job, history = await world.get_job(job_id)
    assert (job.state, job.attempt, job.lease_expiries) == (D, 2, 2)
    assert history[-1].error == job.last_error == "lease expired 2 times (max_lease_expiries 2): poison job"


@pytest.mark.parametrize("env, named", [
    ({"BROKER_DEFAULT_MAX_LEASE_EXPIRIES": "0"}, "max_lease_expiries"),
    ({"BROKER_DEFAULT_MAX_LEASE_EXPIRIES": "many"}, "BROKER_DEFAULT_"),
    ({"BROKER_QUEUES": '{"a": {"max_lease_expiries": 0}}'}, "BROKER_QUEUES"),
])
def test_a_bad_lapsed_lease_limit_stops_start_up(env, named):
    with pytest.raises(settings_mod.SettingsError, match=named):
        settings_mod.load(env)


def test_the_lapsed_lease_limit_is_a_setting_per_queue():
    queues = settings_mod.load({"BROKER_DEFAULT_MAX_LEASE_EXPIRIES": "3",
                                "BROKER_QUEUES": '{"a": {"max_lease_expiries": 8}}'}).queues
    assert (queues.for_queue("b").max_lease_expiries, queues.for_queue("a").max_lease_expiries) == (3, 8)
