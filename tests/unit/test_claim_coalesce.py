"""Claim coalescing (usecases/claim_coalesce.py): the split keeps lease order, gives no job twice
and respects every caller's limit; Lease calls that arrive while the claims of their queues are
busy share one claim; a call gone while its share is claimed loses nothing (its jobs go back at
once); a call given up before its group is taken is never claimed for."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, strategies as st

from broker.entities.errors import Unavailable
from broker.entities.job import Event, Job, JobState, Reason
from broker.infra import settings
from broker.infra.settings import SettingsError
from broker.usecases.claim_coalesce import ClaimCoalescer, split
from broker.usecases.ports import Taker
from tests.unit.conftest import World
from tests.unit.turns import until


class Gated:
    """The in-memory store, recording the callers of each claim; a claim `hold` named waits for
    its gate to open."""

    def __init__(self, store) -> None:
        self._store, self.claims, self._gates = store, [], {}
        self.fail: Exception | None = None

    def hold(self, index: int) -> asyncio.Event:
        """The gate the claim of this index (0: the first) waits for."""
        gate = self._gates[index] = asyncio.Event()
        return gate

    async def _run(self, callers: list[str], claim):
        gate = self._gates.get(len(self.claims))
        self.claims.append(callers)
        if gate is not None:
            await gate.wait()
        if self.fail:
            raise self.fail
        return await claim()

    async def claim(self, queues, worker_id, limit, lease_duration, now):
        return await self._run([worker_id], lambda: self._store.claim(queues, worker_id, limit, lease_duration, now))

    async def claim_for(self, queues, takers, now):
        return await self._run([t.worker_id for t in takers], lambda: self._store.claim_for(queues, takers, now))

    async def release(self, refs, now):
        return await self._store.release(refs, now)


class Heard:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def claimed(self, calls: int) -> None:
        self.calls.append(calls)


@pytest.fixture
def world():
    return World()


def coalescer(world, store, heard=None, claimers=1, max_jobs=1000):
    return ClaimCoalescer(store, world.clock, world.notifier, world.sink, claimers, max_jobs, heard)


async def lease(claim, world, worker, limit, queue="steady"):
    return await claim([queue], worker, limit, None, world.clock.now())


def job(n: int) -> Job:
    return Job(id=f"job-{n}", queue="q", kind="k", payload=b"", state=JobState.RUNNING, run_at=None,
               priority=n, worker_id="w")


# -- the split ---------------------------------------------------------------------------------

def test_the_split_fills_the_first_caller_first_in_lease_order():
    takers = [Taker("a", 2), Taker("b", 1), Taker("c", 3)]
    jobs = [job(n) for n in range(4)]
    events = [Event(j.id, "q", JobState.PENDING, JobState.RUNNING, Reason.LEASE, 1, None) for j in jobs]

    shares = split(takers, jobs, events)

    assert [[j.id for j in js] for js, _ in shares] == [["job-0", "job-1"], ["job-2"], ["job-3"]]
    assert [[e.job_id for e in es] for _, es in shares] == [["job-0", "job-1"], ["job-2"], ["job-3"]]


@given(st.lists(st.integers(1, 20), min_size=1, max_size=12), st.data())
def test_the_split_keeps_order_gives_no_job_twice_and_respects_each_limit(limits, data):
    takers = [Taker(f"w{i}", n) for i, n in enumerate(limits)]
    jobs = [job(n) for n in range(data.draw(st.integers(0, sum(limits))))]

    shares = [js for js, _ in split(takers, jobs, [])]

    assert [j for js in shares for j in js] == jobs  # each job once, lease order kept across callers
    assert all(len(js) <= t.limit for js, t in zip(shares, takers))
    for i, (js, t) in enumerate(zip(shares, takers)):
        if len(js) < t.limit:  # short: every later caller got nothing (the first callers first)
            assert not any(shares[i + 1:])


# -- coalescing --------------------------------------------------------------------------------

async def test_an_idle_broker_claims_at_once_alone(world):
    await world.add(count=3)
    heard, store = Heard(), Gated(world.store)
    claim = coalescer(world, store, heard, claimers=2)

    jobs, events = await lease(claim, world, "w1", 10)

    assert len(jobs) == 3 and len(events) == 3
    assert store.claims == [["w1"]] and heard.calls == [1]


async def test_calls_that_find_the_claims_busy_share_one_claim_in_order(world):
    ids = sorted(await world.add(count=8))  # one run_at: lease order is the ids' order
    heard, store = Heard(), Gated(world.store)
    claim = coalescer(world, store, heard, claimers=1)
    gate = store.hold(0)
    first = asyncio.create_task(lease(claim, world, "w1", 2))
    await until(lambda: store.claims)
    rest = [asyncio.create_task(lease(claim, world, w, n)) for w, n in (("w2", 3), ("w3", 1), ("w4", 5))]
    await asyncio.sleep(0)
    gate.set()

    shares = [await first] + [await t for t in rest]

    assert store.claims == [["w1"], ["w2", "w3", "w4"]] and heard.calls == [1, 3]
    assert [len(js) for js, _ in shares] == [2, 3, 1, 2]
    assert [j.id for js, _ in shares for j in js] == ids  # the oldest to the longest waiting
    for (js, events), worker in zip(shares, ("w1", "w2", "w3", "w4")):
        assert {j.worker_id for j in js} == {worker}
        assert [e.job_id for e in events] == [j.id for j in js]
        assert all((world.store.jobs[j.id].worker_id, world.store.jobs[j.id].lease_token) == (worker, j.lease_token)
                   for j in js)


async def test_calls_woken_together_share_one_claim(world):
    await world.add(count=4)
    heard, store = Heard(), Gated(world.store)
    claim = coalescer(world, store, heard, claimers=2)

    shares = await asyncio.gather(*(lease(claim, world, f"w{i}", 1) for i in range(4)))

    assert heard.calls == [4] and store.claims == [["w0", "w1", "w2", "w3"]]
    assert [len(js) for js, _ in shares] == [1, 1, 1, 1]


async def test_a_group_carries_at_most_max_jobs(world):
    await world.add(count=6)
    heard, store = Heard(), Gated(world.store)
    claim = coalescer(world, store, heard, claimers=1, max_jobs=4)

    await asyncio.gather(*(lease(claim, world, f"w{i}", 2) for i in range(3)))

    assert store.claims == [["w0", "w1"], ["w2"]]


async def test_other_queues_are_claimed_apart(world):
    await world.add(count=1)
    await world.add(queue="other", count=1)
    store = Gated(world.store)
    claim = coalescer(world, store, claimers=1)

    a, b = await asyncio.gather(lease(claim, world, "w1", 5), lease(claim, world, "w2", 5, queue="other"))

    assert store.claims == [["w1"], ["w2"]] and [j.queue for j in a[0] + b[0]] == ["steady", "other"]


async def test_a_call_cancelled_while_its_share_is_claimed_loses_nothing(world):
    ids = sorted(await world.add(count=4))
    store = Gated(world.store)
    claim = coalescer(world, store, claimers=1)
    first_gate, group_gate = store.hold(0), store.hold(1)
    first = asyncio.create_task(lease(claim, world, "w1", 1))
    await until(lambda: store.claims)
    gone, kept = (asyncio.create_task(lease(claim, world, w, 2)) for w in ("gone", "kept"))
    await asyncio.sleep(0)
    first_gate.set()
    await first
    await until(lambda: len(store.claims) == 2)  # the group's claim has started and waits at its gate
    assert store.claims[1] == ["gone", "kept"]
    gone.cancel()
    await asyncio.sleep(0)
    group_gate.set()

    with pytest.raises(asyncio.CancelledError):
        await gone
    (kept_jobs, _) = await kept
    await until(lambda: any(e.reason is Reason.RELEASE for e in world.sink.events))

    assert [j.id for j in kept_jobs] == ids[3:]
    for job_id in ids[1:3]:
        back = world.store.jobs[job_id]
        assert (back.state, back.attempt, back.lease_token) == (JobState.PENDING, 0, None)
    released = [e for e in world.sink.events if e.reason is Reason.RELEASE]
    assert sorted(e.job_id for e in released) == ids[1:3] and {e.worker_id for e in released} == {"gone"}
    assert ["steady"] in world.notifier.notified  # the waiting calls hear the jobs are back
    again, _ = await lease(claim, world, "w3", 5)
    assert [j.id for j in again] == ids[1:3]


async def test_a_call_given_up_before_its_group_is_taken_is_never_claimed_for(world):
    await world.add(count=3)
    store = Gated(world.store)
    claim = coalescer(world, store, claimers=1)
    gate = store.hold(0)
    first = asyncio.create_task(lease(claim, world, "w1", 1))
    await until(lambda: store.claims)
    waiting = asyncio.create_task(lease(claim, world, "w2", 1))
    await asyncio.sleep(0)
    waiting.cancel()
    gate.set()

    await first
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0)

    assert store.claims == [["w1"]]
    assert sum(j.state is JobState.PENDING for j in world.store.jobs.values()) == 2


async def test_a_store_error_reaches_every_caller_of_the_group(world):
    store = Gated(world.store)
    claim = coalescer(world, store, claimers=1)
    store.fail = Unavailable("database away")

    results = await asyncio.gather(*(lease(claim, world, f"w{i}", 1) for i in range(3)), return_exceptions=True)

    assert all(isinstance(r, Unavailable) for r in results)


@pytest.mark.parametrize("env, message", [
    ({"BROKER_CLAIM_CLAIMERS": "-1"}, "BROKER_CLAIM_CLAIMERS='-1': must not be negative"),
    ({"BROKER_CLAIM_MAX_JOBS": "0"}, "BROKER_CLAIM_MAX_JOBS=0: must be at least 1"),
])
def test_bad_settings_stop_start_up_naming_them(env, message):
    with pytest.raises(SettingsError, match=message):
        settings.load(env)


def test_coalescing_is_off_by_default_and_a_number_of_claimers_turns_it_on():
    assert settings.load({}).database.claim_claimers == 0
    assert settings.load({"BROKER_CLAIM_CLAIMERS": "2"}).database.claim_claimers == 2
