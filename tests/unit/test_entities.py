"""The entities' rules: queue names, limits, job ids, the transition table, failure decisions,
lease-call classification and the error tree."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta, timezone

import pytest

from broker.entities import errors
from broker.entities.job import (MOVES, AttemptError, Job, JobState, Reason, check_job_id, check_transition,
                                 is_legal)
from broker.entities.lease import (LEASE_EXPIRED, Failure, FailureDecision, Fence, LeaseRef, LeaseResult,
                                   Outcome, Snapshot, decide_failure, fence, holds, classify)
from broker.entities.queue import Limits, QueueConfig, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy

P, R, S, D, C = (JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED, JobState.DEAD,
                 JobState.CANCELLED)
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
ID = "0b8f3c9e-6a4d-4f1e-9c2b-7d5e8f9a0b1c"


# -- queue names -----------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["a", "Z", "0", "orders", "emails.high-priority_v2", "a" * 128, "._-"])
def test_valid_queue_names_are_returned_as_they_are(name):
    assert Limits().check_queue_name(name) == name


@pytest.mark.parametrize("name", ["a" * 129, "with space", "slash/name", "colon:name", "ümlaut", "tab\t",
                                  "newline\n", "star*", "日本"])
def test_invalid_queue_names_are_refused_naming_the_field(name):
    with pytest.raises(errors.InvalidArgument) as caught:
        Limits().check_queue_name(name, "jobs[3].queue")
    assert caught.value.field == "jobs[3].queue"
    assert str(caught.value).startswith("jobs[3].queue: ")
    assert "1-128 characters" in str(caught.value)


def test_an_invalid_argument_carries_its_field_and_problem_and_moves_under_a_prefix():
    exc = errors.InvalidArgument("retry_after", "is out of range: a: b")
    assert (exc.field, exc.problem) == ("retry_after", "is out of range: a: b")
    moved = exc.at("items[2].")
    assert (moved.field, moved.problem) == ("items[2].retry_after", "is out of range: a: b")
    assert str(moved) == "items[2].retry_after: is out of range: a: b"


def test_an_empty_queue_name_is_refused_as_empty():
    with pytest.raises(errors.InvalidArgument, match=r"^queue: must not be empty$"):
        Limits().check_queue_name("")


# -- limits ----------------------------------------------------------------------------------

def test_default_limits_match_the_design():
    limits = Limits()
    assert (limits.max_payload_bytes, limits.max_batch, limits.min_lease, limits.max_lease,
            limits.max_attempts, limits.max_wait) == (1024 * 1024, 1000, 1.0, 12 * 3600.0, 1000, 60.0)


@pytest.mark.parametrize("seconds", [1.0, 30.0, 43200.0])
def test_lease_durations_within_bounds_are_accepted(seconds):
    assert Limits().check_lease_duration(seconds, "lease_duration") == seconds


@pytest.mark.parametrize("seconds", [0.0, 0.999, 43200.001, -5.0, float("nan"), float("inf")])
def test_lease_durations_out_of_bounds_are_refused(seconds):
    with pytest.raises(errors.InvalidArgument) as caught:
        Limits().check_lease_duration(seconds, "jobs[0].lease_duration")
    assert caught.value.field == "jobs[0].lease_duration"
    assert "outside 1s to 43200s" in str(caught.value)


@pytest.mark.parametrize("count, ok", [(0, False), (1, True), (1000, True), (1001, False), (-1, False)])
def test_batch_sizes(count, ok):
    if ok:
        assert Limits().check_batch(count, "jobs") == count
    else:
        with pytest.raises(errors.InvalidArgument, match=rf"^max_jobs: {count} is outside 1 to 1000$"):
            Limits().check_batch(count, "max_jobs")


def test_limits_are_settings():
    limits = Limits(max_batch=5, min_lease=2.0, max_lease=3.0)
    limits.check_batch(5, "jobs")
    with pytest.raises(errors.InvalidArgument):
        limits.check_batch(6, "jobs")
    with pytest.raises(errors.InvalidArgument):
        limits.check_lease_duration(1.5, "lease_duration")


def test_queue_config_falls_back_to_the_default():
    slow = QueueDefaults(max_attempts=2, lease_duration=600.0)
    config = QueueConfig(overrides={"slow": slow})
    assert config.for_queue("slow") is slow
    assert config.for_queue("other") == QueueDefaults()
    assert QueueDefaults() == QueueDefaults(10, RetryPolicy(1.0, 3600.0, 2.0, Jitter.FULL), 30.0)


# -- job ids ---------------------------------------------------------------------------------

def test_a_job_id_is_a_uuid_and_comes_back_lower_case():
    assert check_job_id(ID, "job_id") == ID
    assert check_job_id(ID.upper(), "job_id") == ID


@pytest.mark.parametrize("bad", ["", "42", ID.replace("-", ""), ID + " ", " " + ID, ID[:-1] + "g", "{" + ID + "}",
                                 ID + "\n"])
def test_anything_else_is_a_malformed_job_id(bad):
    with pytest.raises(errors.InvalidArgument) as caught:
        check_job_id(bad, "leases[4].job_id")
    assert caught.value.field == "leases[4].job_id"
    assert "is not a job id" in str(caught.value)


def test_a_long_bad_id_is_cut_short_in_the_message():
    with pytest.raises(errors.InvalidArgument) as caught:
        check_job_id("x" * 5000, "job_id")
    assert len(str(caught.value)) < 120


# -- the transition table ----------------------------------------------------------------------

# Written out from the life of a job in DESIGN.md, independently of broker.entities.job.MOVES.
LEGAL = {
    (None, P, Reason.ENQUEUE),
    (P, R, Reason.LEASE),
    (R, S, Reason.ACK),
    (R, P, Reason.NACK), (R, P, Reason.EXPIRE),
    (R, D, Reason.NACK), (R, D, Reason.EXPIRE),
    (D, P, Reason.REDRIVE),
    (P, C, Reason.CANCEL), (R, C, Reason.CANCEL),
    (R, P, Reason.SNOOZE),  # back for later, no attempt used
    (R, P, Reason.RELEASE),  # leased for a call that was gone: back at once, no attempt used
    (R, R, Reason.PROGRESS),  # an event without a change of state
    (P, P, Reason.RETRY_NOW),  # a delayed job or a waiting retry made ready by an operator
}
EVERY = list(itertools.product([None, *JobState], JobState, Reason))


def test_the_moves_hold_exactly_the_designed_transitions():
    table = {(f, t, m.reason) for m in MOVES.values() for f in (m.sources or (None,)) for t in m.targets}
    assert table == LEGAL
    assert all(r is m.reason for r, m in MOVES.items())


@pytest.mark.parametrize("from_state, to_state, reason", sorted(LEGAL, key=str))
def test_every_legal_transition_is_allowed(from_state, to_state, reason):
    assert is_legal(from_state, to_state, reason)
    check_transition(ID, from_state, to_state, reason)


def test_every_other_transition_is_refused():
    refused = [combo for combo in EVERY if combo not in LEGAL]
    assert len(refused) == len(EVERY) - len(LEGAL)
    for from_state, to_state, reason in refused:
        assert not is_legal(from_state, to_state, reason), (from_state, to_state, reason)
        with pytest.raises(errors.IllegalTransition) as caught:
            check_transition(ID, from_state, to_state, reason)
        assert str(caught.value) == f"job {ID} cannot go from {from_state} to {to_state}"
        assert caught.value.data == {"job_id": ID}


def test_finished_states_have_no_way_out_but_redrive():
    for state in JobState:
        exits = {(t, r) for (f, t, r) in LEGAL if f is state}
        assert state.finished == (state in (S, D, C))
        if state.finished:
            assert exits == ({(P, Reason.REDRIVE)} if state is D else set())


def test_a_move_names_the_states_a_store_guards_on():
    assert MOVES[Reason.LEASE].sources == (P,)
    assert MOVES[Reason.ACK].sources == (R,)
    assert MOVES[Reason.NACK].sources == MOVES[Reason.EXPIRE].sources == (R,)
    assert MOVES[Reason.REDRIVE].sources == (D,)
    assert set(MOVES[Reason.CANCEL].sources) == {P, R}
    assert MOVES[Reason.ENQUEUE].sources == ()  # no state: a new job
    assert MOVES[Reason.RETRY_NOW].sources == (P,)


def test_states_print_upper_case():
    assert [str(s) for s in JobState] == ["PENDING", "RUNNING", "SUCCEEDED", "DEAD", "CANCELLED"]


def test_last_error_is_the_latest_attempt_error():
    job = Job(ID, "q", "k", b"", P, NOW)
    assert job.last_error is None
    job = Job(ID, "q", "k", b"", P, NOW, errors=(AttemptError(1, "one", NOW), AttemptError(2, "two", NOW)))
    assert job.last_error == "two"


# -- failure decisions -------------------------------------------------------------------------

NO_JITTER = RetryPolicy(initial_delay=1.0, max_delay=10.0, multiplier=2.0, jitter=Jitter.NONE)


@pytest.mark.parametrize("attempt, delay", [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0)])
def test_a_failure_with_attempts_left_retries_after_the_policy_delay(attempt, delay):
    assert decide_failure(attempt, 5, NO_JITTER, Failure("x"), NOW) == FailureDecision(P, NOW + timedelta(seconds=delay))


def test_the_last_attempt_and_a_permanent_failure_go_dead():
    assert decide_failure(5, 5, NO_JITTER, Failure("x"), NOW) == FailureDecision(D, None)
    assert decide_failure(7, 5, NO_JITTER, Failure("x"), NOW) == FailureDecision(D, None)
    assert decide_failure(1, 5, NO_JITTER, Failure("x", permanent=True), NOW) == FailureDecision(D, None)
    assert decide_failure(5, 5, NO_JITTER, Failure("x", retry_after=1.0), NOW) == FailureDecision(D, None)


def test_retry_after_overrides_the_policy_even_beyond_its_cap():
    assert decide_failure(1, 5, NO_JITTER, Failure("x", retry_after=0.0), NOW).run_at == NOW
    assert decide_failure(1, 5, NO_JITTER, Failure("x", retry_after=500.0), NOW).run_at == NOW + timedelta(seconds=500)


def test_the_decision_draws_its_jitter_from_the_given_random():
    full = RetryPolicy(initial_delay=8.0, max_delay=100.0, jitter=Jitter.FULL)
    draw = random.Random(3).random()
    decision = decide_failure(1, 5, full, Failure("x"), NOW, random.Random(3))
    assert decision.run_at == NOW + timedelta(seconds=8.0 * draw)


def test_a_lapsed_lease_is_described_as_such():
    assert LEASE_EXPIRED == Failure("lease expired", permanent=False, retry_after=None, lease_expired=True)


# -- classifying a lease call ------------------------------------------------------------------

REF = LeaseRef(ID, "token-1")


def test_a_changed_call_is_ok():
    assert classify(REF, True, Snapshot(S, "token-1"), (S,), None) == LeaseResult(ID, Outcome.OK, S, None)
    assert classify(REF, True, Snapshot(P, "token-1"), (P, D), NOW) == LeaseResult(ID, Outcome.OK, P, NOW)


def test_an_unknown_job_is_not_found():
    assert classify(REF, False, None, (S,)) == LeaseResult(ID, Outcome.NOT_FOUND)


def test_a_repeat_with_the_same_token_after_success_is_ok():
    assert classify(REF, False, Snapshot(S, "token-1", NOW), (S,)) == LeaseResult(ID, Outcome.OK, S, None)
    assert classify(REF, False, Snapshot(P, "token-1", NOW), (P, D)) == LeaseResult(ID, Outcome.OK, P, NOW)
    assert classify(REF, False, Snapshot(D, "token-1", NOW), (P, D)) == LeaseResult(ID, Outcome.OK, D, None)


@pytest.mark.parametrize("snapshot, done", [
    (Snapshot(R, "token-2"), (S,)),       # re-leased: a stale token
    (Snapshot(P, None), (P, D)),          # lapsed and reaped: the token was cleared
    (Snapshot(C, "token-1"), (S,)),       # cancelled under this lease
    (Snapshot(S, "token-1"), (P, D)),     # a nack after the ack
    (Snapshot(R, "token-1"), ()),         # a heartbeat the store did not carry out
])
def test_everything_else_is_lost(snapshot, done):
    assert classify(REF, False, snapshot, done) == LeaseResult(ID, Outcome.LOST, snapshot.state)


# -- errors ----------------------------------------------------------------------------------

def test_every_error_is_a_broker_error_with_its_docstring_as_default_message():
    for cls in (errors.NotFound, errors.FailedPrecondition, errors.Unavailable, errors.Unauthenticated,
                errors.PermissionDenied, errors.ResourceExhausted):
        assert issubclass(cls, errors.BrokerError)
        assert str(cls()) == cls.__doc__.strip()
    assert issubclass(errors.JobNotFound, errors.NotFound)
    assert issubclass(errors.IllegalTransition, errors.FailedPrecondition)


def test_errors_carry_their_data():
    assert errors.JobNotFound(ID).job_id == ID and str(errors.JobNotFound(ID)) == f"job {ID} not found"
    assert errors.ResourceExhausted(retry_after=2.5).retry_after == 2.5
    invalid = errors.InvalidArgument("jobs[1].kind", "must not be empty")
    assert (invalid.field, invalid.message, invalid.data) == (
        "jobs[1].kind", "jobs[1].kind: must not be empty", {"field": "jobs[1].kind"})


# -- the lease fence ----------------------------------------------------------------------------


def test_each_lease_call_is_fenced_by_its_move():
    assert fence(None) == Fence((R,), ())  # Heartbeat: holds what Lease leads to, moves nothing
    assert fence(Reason.ACK) == Fence((R,), (S,))
    assert fence(Reason.NACK) == Fence((R,), (P, D))


@pytest.mark.parametrize("state", list(JobState))
def test_a_call_holds_the_lease_only_in_a_held_state_under_the_same_token(state):
    assert holds((R,), state, "t", "t") is (state is R)
    assert not holds((R,), state, "t", "other")
    assert not holds((R,), state, None, "t")  # the reaper cleared it
