"""The dashboard's workers, queue health and latency (issue #16) through a real broker: idle
workers long-polling are listed, waiting, beside those holding leases; per queue, the workers
seen and the leases held; each queue row flags its problems; pickup and run times per minute.
Tests flush the broker's observations themselves (broker.observations.run_once) rather than
wait for its loop."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp
from google.protobuf import timestamp_pb2

from broker.v1 import admin_service_pb2 as apb, job_service_pb2 as pb
from tests.e2e.helpers import ack, duration, enqueue, lease, nack
from tests.e2e.observe import get_json


async def _workers(broker) -> dict:
    await broker.observations.run_once()
    return await get_json(broker.http_port, "/api/workers")


def _mine(view: dict, prefix: str) -> dict[str, dict]:
    return {w["worker_id"]: w for w in view["workers"] if w["worker_id"].startswith(prefix)}


async def _until_listed(broker, worker_id: str, **expected) -> dict:
    """The worker's row once it shows what is expected (a poll starts when its task runs)."""
    for _ in range(200):
        row = _mine(await _workers(broker), worker_id).get(worker_id)
        if row is not None and all(row[k] == v for k, v in expected.items()):
            return row
        await asyncio.sleep(0.02)
    raise AssertionError(f"{worker_id} never listed with {expected}: {row}")


async def test_an_idle_long_polling_worker_is_listed_waiting_then_holding_its_job(jobs, queue, broker_server):
    worker = f"{queue}-idle"
    poll = asyncio.ensure_future(jobs.Lease(pb.LeaseRequest(queues=[queue], worker_id=worker, max_jobs=1,
                                                          wait=duration(20), lease_duration=duration(600))))
    row = await _until_listed(broker_server, worker, waiting=True)
    assert row["queues"] == [queue] and row["leases"] == 0 and row["held"] == [] and row["idle"] is True
    assert row["last_seen"] is not None
    view = await _workers(broker_server)
    assert view["queues"][queue] == {"workers": 1, "leases": 0} and view["at"]

    [job_id] = await enqueue(jobs, queue)
    [leased] = (await poll).jobs
    row = await _until_listed(broker_server, worker, waiting=False)
    assert (row["leases"], row["idle"], row["queues"]) == (1, False, [queue])
    assert row["held"] == [{"job_id": job_id, "queue": queue, "kind": "work",
                            "lease_expires_at": row["held"][0]["lease_expires_at"]}]
    assert row["held"][0]["lease_expires_at"].startswith(leased.lease_expires_at.ToDatetime().isoformat()[:19])
    assert (await _workers(broker_server))["queues"][queue] == {"workers": 1, "leases": 1}
    await ack(jobs, leased)
    row = await _until_listed(broker_server, worker, leases=0)
    assert row["held"] == [] and row["idle"] is True


async def test_workers_per_queue_and_at_most_20_held_each(jobs, queue, broker_server):
    other = f"{queue}-b"
    await jobs.Lease(pb.LeaseRequest(queues=[queue, other], worker_id=f"{queue}-w1", max_jobs=1))
    await enqueue(jobs, queue, 25)
    held = await lease(jobs, queue, 25, worker=f"{queue}-w2", lease_duration=duration(600))
    view = await _workers(broker_server)
    mine = _mine(view, queue)
    assert sorted(mine) == [f"{queue}-w1", f"{queue}-w2"]
    assert mine[f"{queue}-w1"]["queues"] == sorted([queue, other]) and mine[f"{queue}-w1"]["idle"] is True
    w2 = mine[f"{queue}-w2"]
    assert w2["leases"] == 25 and len(w2["held"]) == 20 and w2["waiting"] is False
    assert {h["job_id"] for h in w2["held"]} <= {j.job.id for j in held}
    assert view["queues"][queue] == {"workers": 2, "leases": 25}
    assert view["queues"][other] == {"workers": 1, "leases": 0}
    rows = {q["queue"]: q for q in (await get_json(broker_server.http_port, "/api/queues"))["queues"]}
    assert rows[queue]["workers"] == 2 and rows[queue]["problems"] == []
    await ack(jobs, *held)


def _problems(rows: dict, queue: str) -> list[str]:
    return [p["code"] for p in rows[queue]["problems"]]


async def test_queue_rows_flag_their_problems(jobs, admin, queue, broker_server, clock):
    names = {code: f"{queue}-{code}" for code in ("idle", "old", "failing", "breaker", "paused")}
    past = timestamp_pb2.Timestamp()
    past.FromDatetime(clock.now().replace(microsecond=0) - timedelta(seconds=400))
    for name in ("old", "breaker", "paused"):                   # a worker asks for these (still empty)
        await jobs.Lease(pb.LeaseRequest(queues=[names[name]], worker_id=f"{queue}-asks", max_jobs=1))
    await enqueue(jobs, names["idle"], 2)                       # ready, and nobody asks for the queue
    await enqueue(jobs, names["old"], 1, run_at=past)           # ready for 400 s
    await enqueue(jobs, names["failing"], 20)
    leased = await lease(jobs, names["failing"], 20, worker=f"{queue}-f", lease_duration=duration(600))
    await ack(jobs, *leased[:12])
    for j in leased[12:]:
        await nack(jobs, j, permanent=True)                     # 8 of 20 attempts failed: 40 %
    await enqueue(jobs, names["breaker"], 1)
    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=names["breaker"], force_breaker=apb.BREAKER_FORCE_OPEN))
    await enqueue(jobs, names["paused"], 1)
    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=names["paused"], paused=True))
    for path in ("/api/queues", "/api/overview"):
        await broker_server.observations.run_once()
        rows = {q["queue"]: q for q in (await get_json(broker_server.http_port, path))["queues"]}
        assert _problems(rows, names["idle"]) == ["no_workers"]
        assert _problems(rows, names["old"]) == ["oldest_ready"]
        assert _problems(rows, names["failing"]) == ["failure_rate"]
        assert _problems(rows, names["breaker"]) == ["breaker_open"]
        assert _problems(rows, names["paused"]) == ["paused"]
        assert rows[names["paused"]]["workers"] == 1 and rows[names["idle"]]["workers"] == 0
        message = rows[names["failing"]]["problems"][0]["message"]
        assert "40%" in message and "20 attempts" in message


async def test_latency_counts_pickup_and_run_times_per_minute(jobs, queue, broker_server, clock):
    await enqueue(jobs, queue, 3)
    clock.advance(40)                                           # they wait 40 s for a worker
    leased = await lease(jobs, queue, 3, worker=f"{queue}-w", lease_duration=duration(3600))
    clock.advance(100)                                          # and run 100 s
    await ack(jobs, *leased[:2])
    await nack(jobs, leased[2], permanent=True)
    past = timestamp_pb2.Timestamp()
    past.FromDatetime(clock.now().replace(microsecond=0) - timedelta(seconds=1000))
    await enqueue(jobs, f"{queue}-past", 1, run_at=past)        # ready from its enqueue, not 1,000 s before
    [late] = await lease(jobs, f"{queue}-past", 1, worker=f"{queue}-w")
    await ack(jobs, late)
    await broker_server.observations.run_once()
    body = await get_json(broker_server.http_port, f"/api/latency?minutes=15&queue={queue}")
    assert body["minutes"] == 15 and {b["queue"] for b in body["buckets"]} == {queue}
    pickup = [b["pickup"] for b in body["buckets"] if b["pickup"]["count"]]
    run = [b["run"] for b in body["buckets"] if b["run"]["count"]]
    assert sum(p["count"] for p in pickup) == 3 and sum(r["count"] for r in run) == 3
    assert all(30 <= p["p50"] <= p["p99"] <= 60 for p in pickup)   # the bucket of 40 s: (30, 60]
    assert all(60 <= r["p50"] <= r["p99"] <= 120 for r in run)     # of 100 s: (60, 120]
    assert all(b["minute"].endswith(":00+00:00") for b in body["buckets"])
    everything = await get_json(broker_server.http_port, "/api/latency")
    assert everything["minutes"] == 60
    [past_row] = [b for b in everything["buckets"] if b["queue"] == f"{queue}-past" and b["pickup"]["count"]]
    assert past_row["pickup"]["count"] == 1 and past_row["pickup"]["p99"] < 600


async def test_bad_parameters_are_400_naming_them(broker_server):
    base = f"http://127.0.0.1:{broker_server.http_port}"
    async with aiohttp.ClientSession() as session:
        for path, field in [("/api/latency?minutes=14", "minutes"), ("/api/latency?minutes=1441", "minutes"),
                            ("/api/latency?minutes=abc", "minutes"), ("/api/latency?minutes=-5", "minutes"),
                            ("/api/latency?queue=bad%20queue!", "queue"), ("/api/throughput?minutes=1441", "minutes")]:
            async with session.get(base + path) as r:
                assert r.status == 400, path
                assert (await r.json())["error"].startswith(f"{field}: "), path
        for path in ("/api/latency?minutes=15", "/api/latency?minutes=1440", "/api/throughput?minutes=15",
                     "/api/throughput?minutes=1440"):
            async with session.get(base + path) as r:
                assert r.status == 200, path


async def test_the_pruner_deletes_workers_not_seen_and_old_counts(broker_server, db, clock, queue):
    now = clock.now()
    await db.execute("INSERT INTO broker_workers VALUES ($1, $2, 'gone', $3, true)", f"{queue}-old", queue,
                     now - timedelta(hours=1))
    await db.execute("INSERT INTO broker_latency VALUES ($1, $2, 'run', 1, 5)", queue,
                     now.replace(second=0, microsecond=0) - timedelta(days=2))
    assert f"{queue}-old" not in _mine(await _workers(broker_server), queue)   # not seen for an hour: not listed
    await broker_server.pruner.run_once()
    assert await db.fetchval("SELECT count(*) FROM broker_workers WHERE worker_id = $1", f"{queue}-old") == 0
    assert await db.fetchval("SELECT count(*) FROM broker_latency WHERE queue = $1", queue) == 0


async def test_every_replica_lists_every_worker_and_sums_the_latency_counts(own_database, queue):
    from broker.v1 import job_service_pb2_grpc
    from tests.brokers import running_broker
    import grpc

    env = {"BROKER_OBSERVE_FLUSH_INTERVAL": "0.1"}
    async with running_broker(own_database, **env) as one, running_broker(own_database, **env) as two:
        async with grpc.aio.insecure_channel(one.grpc_address) as ch1, grpc.aio.insecure_channel(two.grpc_address) as ch2:
            first, second = job_service_pb2_grpc.JobServiceStub(ch1), job_service_pb2_grpc.JobServiceStub(ch2)
            poll = asyncio.ensure_future(second.Lease(pb.LeaseRequest(
                queues=[queue], worker_id=f"{queue}-on-two", max_jobs=1, wait=duration(20))))
            row = await _until_listed(one, f"{queue}-on-two", waiting=True)     # listed by the other replica
            assert row["queues"] == [queue] and row["idle"] is True
            await enqueue(first, queue, 5)
            [taken] = (await poll).jobs
            await ack(second, taken)
            more = await lease(first, queue, 4, worker=f"{queue}-on-one")
            await ack(first, *more)
            await two.observations.run_once()
            await one.observations.run_once()
            for broker in (one, two):
                body = await get_json(broker.http_port, f"/api/latency?queue={queue}")
                assert sum(b["pickup"]["count"] for b in body["buckets"]) == 5
                assert sum(b["run"]["count"] for b in body["buckets"]) == 5
                assert set(_mine(await _workers(broker), queue)) == {f"{queue}-on-one", f"{queue}-on-two"}
