"""Coalesced settlement (usecases/settlement.py): Acks, Nacks, Snoozes and Heartbeats that arrive
while a settling write is in flight share the next write, each caller gets exactly the results and
events of its own leases, a failing group is written again call by call, and heartbeats of
different lease durations never share a statement."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from broker.entities.errors import InvalidArgument, Unavailable
from broker.entities.job import Event, JobState, Reason
from broker.entities.lease import Failure, LeaseRef, Snapshot
from broker.usecases.ports import LeaseCall
from broker.usecases.settlement import CoalescedSettlement
from tests.unit.turns import until

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)


class Store:
    """Settling writes that record their refs, hold until released, and fence on token "good"."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, list[str], object]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.refuse: str | None = None
        self.away = False

    async def _settle(self, kind: str, refs, extra=None):
        self.writes.append((kind, [r.job_id for r in refs], extra))
        await self.gate.wait()
        if self.away:
            raise Unavailable("the database is away")
        if self.refuse is not None and any(r.job_id == self.refuse for r in refs):
            raise InvalidArgument("leases", f"{self.refuse} is refused by the store")
        calls, events = [], []
        for ref in refs:
            held = ref.lease_token == "good"
            calls.append(LeaseCall(ref, held, Snapshot(JobState.SUCCEEDED if held else JobState.RUNNING, "x")))
            if held:
                events.append(Event(ref.job_id, "q", JobState.RUNNING, JobState.SUCCEEDED, Reason.ACK, 1, T0))
        return calls, events

    async def complete(self, refs, now, results=None):
        return await self._settle("complete", refs, results)

    async def fail(self, items, now, decide):
        return await self._settle("fail", [r for r, _ in items], decide)

    async def snooze(self, items, now):
        return await self._settle("snooze", [r for r, _ in items])

    async def extend(self, refs, lease_duration, now):
        return (await self._settle("extend", refs, lease_duration))[0]

    async def extend_with_progress(self, refs, progress, lease_duration, now):
        return await self._settle("progress", refs, (lease_duration, list(progress)))

    async def get(self, job_id):
        return job_id


class Heard:
    def __init__(self) -> None:
        self.writes: list[tuple[str, int]] = []

    def settle_written(self, call: str, calls: int) -> None:
        self.writes.append((call, calls))


def refs(*names: str, token: str = "good") -> list[LeaseRef]:
    return [LeaseRef(name, token) for name in names]


async def busy(store: Store, settle: CoalescedSettlement) -> asyncio.Task:
    """A first Ack of job "a" whose write the store holds: the only writer is busy from now on."""
    store.gate.clear()
    first = asyncio.create_task(settle.complete(refs("a"), T0))
    await until(lambda: store.writes)
    return first


async def test_acks_arriving_while_a_write_is_in_flight_share_the_next_one():
    store, heard = Store(), Heard()
    settle = CoalescedSettlement(store, writers=1, listener=heard)
    first = await busy(store, settle)
    second = asyncio.create_task(settle.complete(refs("b", "c"), T0, [b"rb", None]))
    third = asyncio.create_task(settle.complete(refs("d") + refs("e", token="stale"), T0))
    await until(lambda: len(settle._complete._waiting) == 2)
    store.gate.set()
    (a_calls, a_events), (b_calls, b_events), (d_calls, d_events) = await asyncio.gather(first, second, third)
    assert [w[:2] for w in store.writes] == [("complete", ["a"]), ("complete", ["b", "c", "d", "e"])]
    assert store.writes[1][2] == [b"rb", None, None, None]  # each lease keeps its own result
    assert [c.ref.job_id for c in b_calls] == ["b", "c"] and [e.job_id for e in b_events] == ["b", "c"]
    assert [(c.ref.job_id, c.changed) for c in d_calls] == [("d", True), ("e", False)]  # fenced per lease
    assert [e.job_id for e in d_events] == ["d"] and [e.job_id for e in a_events] == ["a"]
    assert heard.writes == [("ack", 1), ("ack", 2)]


async def test_a_job_named_by_two_calls_gives_its_events_to_the_first():
    store = Store()
    settle = CoalescedSettlement(store, writers=1)
    first = await busy(store, settle)
    second = asyncio.create_task(settle.complete(refs("b"), T0))
    third = asyncio.create_task(settle.complete(refs("b"), T0))
    await until(lambda: len(settle._complete._waiting) == 2)
    store.gate.set()
    _, (_, second_events), (third_calls, third_events) = await asyncio.gather(first, second, third)
    assert len(second_events) == 2 and third_events == []  # recorded once, by one caller
    assert [c.ref.job_id for c in third_calls] == ["b"]


async def test_a_refused_call_fails_alone_and_its_neighbours_are_settled():
    store = Store()
    settle = CoalescedSettlement(store, writers=1)
    first = await busy(store, settle)
    store.refuse = "bad"
    good = asyncio.create_task(settle.complete(refs("b"), T0))
    bad = asyncio.create_task(settle.complete(refs("bad"), T0))
    await until(lambda: len(settle._complete._waiting) == 2)
    store.gate.set()
    await first
    calls, _ = await good
    assert [c.changed for c in calls] == [True]
    with pytest.raises(InvalidArgument):
        await bad
    assert [w[1] for w in store.writes] == [["a"], ["b", "bad"], ["b"], ["bad"]]


async def test_a_database_away_fails_the_whole_group_with_unavailable():
    store = Store()
    settle = CoalescedSettlement(store, writers=1)
    first = await busy(store, settle)
    waiting = [asyncio.create_task(settle.complete(refs(n), T0)) for n in ("b", "c")]
    await until(lambda: len(settle._complete._waiting) == 2)
    store.away = True
    store.gate.set()
    with pytest.raises(Unavailable):
        await first
    for task in waiting:
        with pytest.raises(Unavailable):
            await task
    assert [w[1] for w in store.writes] == [["a"], ["b", "c"]]  # not written again one by one


async def test_nacks_and_heartbeats_coalesce_by_their_own_kind_and_lease_duration():
    store, heard = Store(), Heard()
    settle = CoalescedSettlement(store, writers=1, listener=heard)
    store.gate.clear()

    def nack(name: str, decide: str) -> asyncio.Task:
        return asyncio.create_task(settle.fail([(LeaseRef(name, "good"), Failure(name))], T0, lambda j, f: decide))

    tasks = [nack("n0", "d0"), asyncio.create_task(settle.extend(refs("h0"), 30.0, T0))]
    await until(lambda: len(store.writes) == 2)  # one write of each kind in flight
    tasks += [nack("n1", "d1"), nack("n2", "d2"),
              asyncio.create_task(settle.extend(refs("h1"), 30.0, T0)),
              asyncio.create_task(settle.extend(refs("h2"), 30.0, T0)),
              asyncio.create_task(settle.extend(refs("h3"), 60.0, T0))]
    await until(lambda: len(store.writes) == 3)  # another lease duration is not held up
    store.gate.set()
    done = await asyncio.gather(*tasks)
    assert [c.ref.job_id for c in done[4]] == ["h1"] and [c.ref.job_id for c in done[5]] == ["h2"]
    assert [c.ref.job_id for c in done[3][0]] == ["n2"]
    written = {(kind, tuple(ids)): extra for kind, ids, extra in store.writes}
    assert written[("extend", ("h1", "h2"))] == 30.0 and written[("extend", ("h3",))] == 60.0
    assert written[("fail", ("n1", "n2"))](None, None) == "d2"  # the group's latest decider
    assert ("nack", 2) in heard.writes and ("heartbeat", 2) in heard.writes


async def test_other_methods_are_the_stores_own():
    settle = CoalescedSettlement(Store())
    assert await settle.get("job-1") == "job-1"
