"""The contract suite: every test runs against the in-memory store and the PostgreSQL store.

The database is shared with the rest of the run, so nothing here truncates: each test has its
own queue (the `queue` fixture) and its own stretch of time (`t0`). Time is passed as `now`;
nothing sleeps. The stretches lie in the future (year 2200 and one day earlier for each test)
so brokers on the real clock never reap or prune these jobs, and a test's reaper or pruner call
never reaches the jobs of the tests that ran before it.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from broker.infra.pg.store import PgJobStore
from tests.fakes import InMemoryJobStore

ERA = datetime(2200, 1, 1, tzinfo=timezone.utc)
_eras = itertools.count()


@pytest.fixture(params=["memory", "postgres"])
def store(request):
    """The store under test: the fake, or PgJobStore on the session's test database."""
    if request.param == "memory":
        return InMemoryJobStore()
    return PgJobStore(request.getfixturevalue("db"))


@pytest.fixture
def t0() -> datetime:
    """The start of this test's own stretch of time."""
    return ERA - timedelta(days=next(_eras))
