"""The operators' view of a job's state (PENDING split as Stats splits it) and a listing's filter."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.job import Job, JobState
from broker.entities.job_view import JobFilter, JobView, parse_view, view_of, views_of

NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
ID = "0b5e3a52-0000-4000-8000-000000000000"
P, V = JobState.PENDING, JobView


def job(state=P, run_in: float = 0, attempt: int = 0, **fields) -> Job:
    return Job(ID, "q", "k", b"", state, NOW + timedelta(seconds=run_in), attempt=attempt, **fields)


@pytest.mark.parametrize("made, view", [
    (job(), V.READY), (job(run_in=-5, attempt=3), V.READY), (job(run_in=5), V.SCHEDULED),
    (job(run_in=5, attempt=1), V.RETRYING), (job(JobState.RUNNING, run_in=5, attempt=1), V.RUNNING),
    (job(JobState.SUCCEEDED), V.SUCCEEDED), (job(JobState.DEAD), V.DEAD), (job(JobState.CANCELLED), V.CANCELLED),
])
def test_a_job_s_view_at_a_time(made, view):
    assert view_of(made, NOW) is view and view.state is made.state


def test_each_state_has_its_views_and_a_filter_reads_the_states_it_needs():
    assert views_of(P) == {V.READY, V.SCHEDULED, V.RETRYING}
    assert views_of(JobState.DEAD) == {V.DEAD}
    assert JobFilter(views=frozenset({V.DEAD, V.SCHEDULED})).by_state() == [(P, {V.SCHEDULED}), (JobState.DEAD, None)]
    assert JobFilter(views=views_of(P)).by_state() == [(P, None)]
    assert [s for s, _ in JobFilter().by_state()] == list(JobState)


def test_views_are_read_by_name_and_anything_else_names_the_field():
    assert parse_view("retrying") is V.RETRYING and parse_view("") is None
    for bad in ("pending", "Ready", "x" * 100):
        with pytest.raises(InvalidArgument) as caught:
            parse_view(bad, "state")
        assert caught.value.field == "state" and len(str(caught.value)) < 150


def test_a_search_matches_an_exact_id_in_any_case_or_an_exact_key():
    keyed = job(idempotency_key="Order-7")
    assert JobFilter(search=ID.upper()).matches(keyed, NOW) and JobFilter(search="Order-7").matches(keyed, NOW)
    assert not JobFilter(search="order-7").matches(keyed, NOW)
    assert JobFilter(search="Order-7").search_id is None


def test_different_filters_have_different_keys():
    filters = [JobFilter(), JobFilter(queue="a"), JobFilter(kind="a"), JobFilter(search="a"),
               JobFilter(views=frozenset({V.READY})), JobFilter(views=frozenset({V.READY, V.DEAD})),
               JobFilter(queue="a", kind="b"), JobFilter(queue="b", kind="a")]
    assert len({f.key for f in filters}) == len(filters)
    assert JobFilter(views=frozenset({V.DEAD, V.READY})).key == JobFilter(views=frozenset({V.READY, V.DEAD})).key
