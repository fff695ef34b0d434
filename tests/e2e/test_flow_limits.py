"""Per-key concurrency and the shared rate limit through real brokers: the calls and their bad
input, leasers on two replicas that never push a key past its limit (replayed from the event
log) while other keys proceed, and a token bucket that two replicas never lease past
(burst + rate * t, by the brokers' clock, moved by the test), with its metrics, Stats, the CLI
and the SQL enqueue function."""

from __future__ import annotations

import asyncio
import random
from datetime import datetime, timezone

import asyncpg
import grpc
import pytest

from broker.infra.pg.store import LIMITED_TTL
from broker.v1 import admin_service_pb2 as apb
from broker.v1 import admin_service_pb2_grpc, job_pb2, job_service_pb2 as jpb, job_service_pb2_grpc
from tests.brokers import running_broker
from tests.e2e.observe import scrape
from tests.fakes import ManualClock


def keyed(queue: str, keys: list[str | None]) -> jpb.EnqueueBatchRequest:
    return jpb.EnqueueBatchRequest(jobs=[job_pb2.JobSpec(queue=queue, kind="k", payload=b"x", concurrency_key=k or "")
                                         for k in keys])


async def test_the_controls_are_set_read_listed_and_logged(admin, jobs, queue, db, broker_server):
    set_ = (await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, per_key_concurrency=2, rate_limit=12.5))).queue
    assert (set_.per_key_concurrency, set_.rate_limit, set_.rate_burst) == (2, 12.5, 13)
    burst = (await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, rate_burst=40))).queue
    assert (burst.per_key_concurrency, burst.rate_limit, burst.rate_burst) == (2, 12.5, 40)
    assert (await admin.GetQueue(apb.GetQueueRequest(queue=queue))).queue == burst
    rows = await db.fetch("SELECT per_key_concurrency_before, per_key_concurrency, rate_limit_before, rate_limit, "
                          "rate_burst_before, rate_burst FROM broker_queue_events WHERE queue = $1 ORDER BY id", queue)
    assert [tuple(r) for r in rows] == [(None, 2, None, 12.5, None, 13), (2, 2, 12.5, 12.5, 13, 40)]

    await jobs.EnqueueBatch(keyed(queue, ["a", "a", "a"]))
    leased = (await jobs.Lease(jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=10))).jobs
    assert [j.job.concurrency_key for j in leased] == ["a", "a"]  # the third waits for its key
    stats = {q.queue: q for q in (await admin.Stats(apb.StatsRequest(queues=[queue]))).queues}[queue]
    assert (stats.running, stats.controls.per_key_concurrency, stats.controls.rate_limit) == (2, 2, 12.5)
    _, samples = await scrape(broker_server.http_port)
    assert samples.get_value("broker_queue_per_key_concurrency", queue=queue) == 2
    assert samples.get_value("broker_queue_rate_limit", queue=queue) == 12.5
    assert samples.get_value("broker_queue_rate_burst", queue=queue) == 40
    assert samples.get_value("broker_queue_concurrency_in_use", queue=queue) == 2

    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, per_key_concurrency=0, rate_limit=0))
    cleared = (await admin.GetQueue(apb.GetQueueRequest(queue=queue))).queue
    assert (cleared.per_key_concurrency, cleared.rate_limit, cleared.rate_burst) == (0, 0.0, 0)


@pytest.mark.parametrize("request_fields, field", [
    ({"per_key_concurrency": -1}, "per_key_concurrency"),
    ({"per_key_concurrency": 1_000_001}, "per_key_concurrency"),
    ({"rate_limit": -1.0}, "rate_limit"),
    ({"rate_limit": float("nan")}, "rate_limit"),
    ({"rate_limit": 5.0, "rate_burst": 0}, "rate_burst"),
    ({"rate_limit": 5.0, "rate_burst": -2}, "rate_burst"),
    ({"rate_burst": 5}, "rate_burst"),  # a burst without a rate
])
async def test_bad_controls_name_the_field_and_change_nothing(admin, queue, db, request_fields, field):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, **request_fields))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(field + ":"), caught.value.details()
    assert await db.fetchval("SELECT count(*) FROM broker_queues WHERE name = $1", queue) == 0
    assert await db.fetchval("SELECT count(*) FROM broker_queue_events WHERE queue = $1", queue) == 0


async def test_an_over_long_concurrency_key_is_refused_by_rpc_and_sql(jobs, queue, db):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await jobs.EnqueueBatch(keyed(queue, ["ok", "k" * 257]))
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("jobs[1].concurrency_key:"), caught.value.details()
    with pytest.raises(asyncpg.InvalidParameterValueError) as refused:
        await db.fetchval("SELECT broker_enqueue($1, 'k', concurrency_key => $2)", queue, "k" * 257)
    assert refused.value.column_name == "concurrency_key"
    assert await db.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1", queue) == 0
    # (A queue of its own: the event-log check of this test's queue hears only the broker's logs.)
    job_id = await db.fetchval("SELECT broker_enqueue($1, 'k', concurrency_key => 'customer-9')", queue + "-sql")
    assert await db.fetchval("SELECT concurrency_key FROM broker_jobs WHERE id = $1", job_id) == "customer-9"


async def _leaser(stub, queue: str, name: str, rng: random.Random, done: asyncio.Event) -> int:
    taken = 0
    while not done.is_set():
        leased = (await stub.Lease(jpb.LeaseRequest(queues=[queue], worker_id=name, max_jobs=3))).jobs
        if not leased:
            await asyncio.sleep(0.005)
            continue
        taken += len(leased)
        await asyncio.sleep(rng.uniform(0.005, 0.03))  # the work
        await stub.Ack(jpb.AckRequest(leases=[jpb.LeaseRef(job_id=j.job.id, lease_token=j.lease_token)
                                              for j in leased]))
    return taken


async def _most_running(conn, queue: str) -> tuple[dict[str, int], int]:
    """The most jobs RUNNING at once per key and in all, replayed from the event log in id order
    (an event's id is drawn before its statement commits, so a lease that needed the room an ack
    freed always comes after that ack)."""
    running: dict[str | None, int] = {}
    most: dict[str | None, int] = {}
    total = most_total = 0
    for to_state, from_state, key in await conn.fetch(
            "SELECT e.to_state, e.from_state, j.concurrency_key FROM broker_events e JOIN broker_jobs j "
            "ON j.id = e.job_id WHERE e.queue = $1 ORDER BY e.id", queue):
        step = (to_state == "running") - (from_state == "running")
        running[key] = running.get(key, 0) + step
        most[key] = max(most.get(key, 0), running[key])
        total += step
        most_total = max(most_total, total)
    return most, most_total


@pytest.mark.slow
async def test_a_per_key_limit_holds_across_leasers_on_two_replicas_and_other_keys_proceed(own_database, queue):
    keys = ["a", "b", "c", "d"] * 12 + [None] * 12
    random.Random(5).shuffle(keys)
    async with running_broker(own_database) as a, running_broker(own_database) as b, \
            grpc.aio.insecure_channel(a.grpc_address) as ca, grpc.aio.insecure_channel(b.grpc_address) as cb:
        await admin_service_pb2_grpc.AdminServiceStub(ca).UpdateQueue(
            apb.UpdateQueueRequest(queue=queue, per_key_concurrency=1))
        # Replica b learns that the queue is counted within LIMITED_TTL: its own loops (the
        # callback deliveries' claims) may have read the list just before the change.
        await asyncio.sleep(LIMITED_TTL + 0.1)
        stubs = [job_service_pb2_grpc.JobServiceStub(c) for c in (ca, cb)]
        await stubs[0].EnqueueBatch(keyed(queue, keys))
        # A key held by one replica's worker does not stop the other replica's claim.
        held = (await stubs[0].Lease(jpb.LeaseRequest(queues=[queue], worker_id="h", max_jobs=1))).jobs[0]
        others = (await stubs[1].Lease(jpb.LeaseRequest(queues=[queue], worker_id="o", max_jobs=60))).jobs
        other_keys = [j.job.concurrency_key for j in others if j.job.concurrency_key]
        assert held.job.concurrency_key not in other_keys and len(set(other_keys)) == len(other_keys)
        assert set(other_keys) == set("abcd") - {held.job.concurrency_key}  # (the held job may have none)
        for stub, leased in ((stubs[0], [held]), (stubs[1], others)):
            await stub.Ack(jpb.AckRequest(leases=[jpb.LeaseRef(job_id=j.job.id, lease_token=j.lease_token)
                                                  for j in leased]))
        done, rng = asyncio.Event(), random.Random(3)
        leasers = [asyncio.create_task(_leaser(stubs[i % 2], queue, f"w{i}", rng, done)) for i in range(8)]
        conn = await asyncpg.connect(own_database)
        try:
            while await conn.fetchval("SELECT count(*) FROM broker_jobs WHERE queue = $1 AND state <> 'succeeded'",
                                      queue):
                await asyncio.sleep(0.05)
            done.set()
            taken = await asyncio.gather(*leasers)
            most, most_total = await _most_running(conn, queue)
        finally:
            await conn.close()
    assert sum(taken) + 1 + len(others) == len(keys)
    assert {k: most[k] for k in "abcd"} == {k: 1 for k in "abcd"}  # reached, never passed
    assert most_total >= 4  # the keys ran side by side


async def _lease_all_at_once(stubs, queue: str) -> int:
    """Four Lease calls on each replica at once, each asking for more than a step refills."""
    calls = [stub.Lease(jpb.LeaseRequest(queues=[queue], worker_id=f"w{i}", max_jobs=4))
             for i, stub in enumerate(stubs * 4)]
    return sum(len(r.jobs) for r in await asyncio.gather(*calls))


async def test_a_rate_limit_holds_across_two_replicas_by_the_brokers_clock(own_database, queue):
    rate, burst, step, steps = 10.0, 7, 0.5, 8  # 5 tokens per step
    clock = ManualClock(datetime.now(timezone.utc).replace(microsecond=0))
    async with running_broker(own_database, clock) as a, running_broker(own_database, clock) as b, \
            grpc.aio.insecure_channel(a.grpc_address) as ca, grpc.aio.insecure_channel(b.grpc_address) as cb:
        admin = admin_service_pb2_grpc.AdminServiceStub(ca)
        await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, rate_limit=rate, rate_burst=burst))
        await asyncio.sleep(LIMITED_TTL + 0.1)  # replica b's list of counted queues (as above)
        stubs = [job_service_pb2_grpc.JobServiceStub(c) for c in (ca, cb)]
        await stubs[1].EnqueueBatch(keyed(queue, [None] * 200))
        start, leased = clock.now(), [await _lease_all_at_once(stubs, queue)]
        for _ in range(steps):
            clock.advance(step)
            leased.append(await _lease_all_at_once(stubs, queue))
        samples = [(await scrape(broker.http_port))[1] for broker in (a, b)]
        conn = await asyncpg.connect(own_database)
        try:
            at = [r[0] for r in await conn.fetch(
                "SELECT at FROM broker_events WHERE queue = $1 AND reason = 'lease' ORDER BY at", queue)]
        finally:
            await conn.close()
    for n, t in enumerate(at, start=1):  # never more than the bucket allows by then
        assert n <= burst + rate * (t - start).total_seconds()
    assert leased == [burst] + [5] * steps  # and every token was used: the limit, not the leasers
    limited = sum(s.get_value("broker_claims_rate_limited_total", queue=queue) or 0 for s in samples)
    assert limited >= steps + 1  # each round, some call found the bucket empty


async def test_the_cli_sets_and_shows_the_per_key_limit_and_the_rate(queue, jobs, broker_server):
    from tests.e2e.test_cli_ops import broker_cli, rows

    target = broker_server.grpc_address
    code, out, err = await broker_cli("queues", "per-key", queue, "1", target=target)
    assert code == 0, err
    assert rows(out)[queue]["PER_KEY"] == "1"
    code, out, err = await broker_cli("queues", "rate", queue, "2.5", "--burst", "4", target=target)
    assert code == 0, err
    assert (rows(out)[queue]["RATE"], rows(out)[queue]["BURST"]) == ("2.5/s", "4")
    await jobs.EnqueueBatch(keyed(queue, ["a", "a"]))
    await jobs.Lease(jpb.LeaseRequest(queues=[queue], worker_id="w", max_jobs=5))
    code, out, _ = await broker_cli("queues", "show", queue, target=target)
    assert (rows(out)[queue]["RUNNING"], rows(out)[queue]["PER_KEY"]) == ("1", "1")
    code, _, err = await broker_cli("queues", "rate", queue, "3", "--burst", "0", target=target)
    assert code == 1 and "rate_burst" in err
    code, _, err = await broker_cli("queues", "per-key", queue, "-1", target=target)
    assert code == 1 and "per_key_concurrency" in err
