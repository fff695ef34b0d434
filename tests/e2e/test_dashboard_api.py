"""The dashboard's JSON API: reads, the dead letter actions, and its error answers."""

from __future__ import annotations

import aiohttp

from broker.v1 import admin_service_pb2 as apb, job_pb2
from tests.e2e.helpers import enqueue, lease, nack
from tests.e2e.observe import get_json, post_json, scrape


async def _dead(jobs, queue: str, n: int) -> list[str]:
    ids = await enqueue(jobs, queue, n, max_attempts=1)
    for leased in await lease(jobs, queue, n):
        await nack(jobs, leased, error=f"broken {leased.job.id[:4]}")
    return ids


async def test_dead_list_job_detail_redrive_and_purge(jobs, admin, queue, broker_server):
    port = broker_server.http_port
    ids = await _dead(jobs, queue, 3)
    listed = await get_json(port, f"/api/dead?queue={queue}")
    assert sorted(j["id"] for j in listed["jobs"]) == sorted(ids)
    assert all(j["state"] == "dead" and j["attempt"] == 1 and j["last_error"].startswith("broken")
               for j in listed["jobs"])

    detail = await get_json(port, f"/api/jobs/{ids[0]}")
    assert [e["reason"] for e in detail["events"]] == ["enqueue", "lease", "nack"]
    assert detail["job"]["errors"] == [{"attempt": 1, "error": f"broken {ids[0][:4]}",
                                        "at": detail["events"][-1]["at"]}]
    assert detail["job"]["payload_preview"] == "{}"

    status, body = await post_json(port, "/api/redrive", {"job_ids": [ids[0]]})
    assert (status, body) == (200, {"redriven": 1, "job_ids": [ids[0]]})
    got = await admin.GetJob(apb.GetJobRequest(job_id=ids[0]))
    assert got.job.state == job_pb2.JOB_STATE_PENDING and got.job.attempt == 0

    status, body = await post_json(port, "/api/purge", {"job_ids": [ids[1]]})
    assert (status, body) == (200, {"purged": 1})
    status, body = await post_json(port, "/api/redrive", {"queue": queue})
    assert (status, body["redriven"], body["job_ids"]) == (200, 1, [ids[2]])
    assert (await get_json(port, f"/api/dead?queue={queue}"))["jobs"] == []

    _, m = await scrape(port)
    assert m.get_value("broker_jobs_redriven_total", queue=queue) == 2
    assert m.get_value("broker_jobs", queue=queue, state="ready") == 2


async def test_throughput_counts_events_per_minute(jobs, queue, broker_server):
    await _dead(jobs, queue, 2)
    buckets = (await get_json(broker_server.http_port, f"/api/throughput?queue={queue}&minutes=5"))["buckets"]
    assert {b["queue"] for b in buckets} == {queue}
    totals = {k: sum(b[k] for b in buckets) for k in ("enqueued", "succeeded", "failed", "dead_lettered")}
    assert totals == {"enqueued": 2, "succeeded": 0, "failed": 2, "dead_lettered": 2}


async def test_errors_are_json_with_their_status(broker_server):
    base = f"http://127.0.0.1:{broker_server.http_port}"
    async with aiohttp.ClientSession() as session:
        async def call(method, path, **kw):
            async with session.request(method, base + path, **kw) as r:
                return r.status, (await r.json())["error"]

        status, error = await call("GET", "/api/jobs/00000000-0000-0000-0000-000000000000")
        assert status == 404 and "not found" in error
        status, error = await call("GET", "/api/jobs/nope")
        assert status == 400 and "job_id" in error
        status, error = await call("GET", "/api/throughput?minutes=0")
        assert status == 400 and "minutes" in error
        status, error = await call("POST", "/api/redrive", json={"job_ids": ["x"], "queue": "q"})
        assert status == 400
        # A plain form post (what another site could make a browser send) is refused.
        status, error = await call("POST", "/api/purge", data={"queue": "q"})
        assert status == 415


async def test_dashboard_page_and_assets_are_served_locally(broker_server):
    base = f"http://127.0.0.1:{broker_server.http_port}"
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/") as r:
            page = await r.text()
            assert r.status == 200 and r.content_type == "text/html"
        for asset in ("/static/app.js", "/static/charts.js", "/static/style.css", "/static/favicon.svg"):
            assert asset in page
            async with session.get(base + asset) as r:
                assert r.status == 200, asset
    assert "http://" not in page.replace(base, "") and "https://" not in page


async def test_a_dashboard_write_logs_its_request_id(jobs, queue, broker_server):
    from tests.e2e.observe import job_log

    [dead_id] = await _dead(jobs, queue, 1)
    with job_log() as lines:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{broker_server.http_port}/api/redrive",
                                    json={"job_ids": [dead_id]}, headers={"X-Request-Id": "req-7"}) as r:
                assert r.status == 200
    [line] = [x for x in lines if x["queue"] == queue]
    assert (line["job_id"], line["reason"], line["request_id"]) == (dead_id, "redrive", "req-7")


BAD_BODIES = [
    ("[" * 100_000 + "]" * 100_000, "body"),                # nested past Python's recursion limit
    ('{"job_ids": ' + "[" * 50_000 + "]" * 50_000 + "}", "body"),
    ('{"queue": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000 + "}", "body"),
    ("", "body"),
    ("{", "body"),
    (b"\xff\xfe", "body"),                                  # not UTF-8
    ("[]", "body"),
    ('"q"', "body"),
    ("null", "body"),
    ("{}", "job_ids"),
    ('{"job_ids": "abc"}', "job_ids"),
    ('{"job_ids": [1, 2]}', "job_ids"),
    ('{"job_ids": [["x"]]}', "job_ids"),
    ('{"job_ids": ["not-a-uuid"]}', "job_ids[0]"),
    ('{"queue": 7}', "queue"),
    ('{"queue": ["q"]}', "queue"),
    ('{"queue": "bad queue!"}', "queue"),
    ('{"queue": "q", "job_ids": ["0b5e3a52-0000-4000-8000-000000000000"]}', "job_ids"),
    ('{"queue": "q", "force": true}', "body"),                   # a field neither endpoint takes
    ('{"job_id": ["0b5e3a52-0000-4000-8000-000000000000"]}', "body"),  # a misspelt field
]


async def test_any_body_an_endpoint_does_not_take_is_400_with_a_message(broker_server, db, queue):
    base = f"http://127.0.0.1:{broker_server.http_port}"
    # Nothing redriven, nothing purged (the reaper may add dead jobs meanwhile, never remove one).
    changes = ("SELECT (SELECT count(*) FROM broker_events WHERE reason = 'redrive'), "
               "(SELECT count(*) FROM broker_jobs WHERE state = 'dead')")
    redriven, dead = await db.fetchrow(changes)
    async with aiohttp.ClientSession() as session:
        for path in ("/api/redrive", "/api/purge"):
            for body, field in BAD_BODIES:
                data = body if isinstance(body, bytes) else body.encode()
                async with session.post(base + path, data=data, headers={"Content-Type": "application/json"}) as r:
                    answer = await r.json()
                    assert r.status == 400, (path, body[:60], r.status, answer)
                    assert answer["error"].startswith(f"{field}: "), (path, body[:60], answer)
        async with session.post(base + "/api/redrive", json={"queue": queue, "reset_attempts": "no"}) as r:
            assert r.status == 400 and (await r.json())["error"].startswith("reset_attempts: ")
    after = await db.fetchrow(changes)
    assert after[0] == redriven and after[1] >= dead


async def test_each_queue_comes_with_its_flow_controls(jobs, admin, queue, broker_server):
    await enqueue(jobs, queue, 3)
    await admin.UpdateQueue(apb.UpdateQueueRequest(queue=queue, concurrency_limit=2, per_key_concurrency=1,
                                                   rate_limit=20, rate_burst=40))
    await lease(jobs, queue, 2)
    for path in ("/api/overview", "/api/queues"):
        (row,) = [q for q in (await get_json(broker_server.http_port, path))["queues"] if q["queue"] == queue]
        assert row["running"] == 2
        assert row["controls"] == {"paused": False, "concurrency_limit": 2, "per_key_concurrency": 1,
                                   "rate_limit": 20.0, "rate_burst": 40}
    (keyed,) = await enqueue(jobs, queue, 1, concurrency_key="customer-3")
    detail = await get_json(broker_server.http_port, f"/api/jobs/{keyed}")
    assert detail["job"]["concurrency_key"] == "customer-3"
    other = queue + "-free"
    await enqueue(jobs, other, 1)
    (free,) = [q for q in (await get_json(broker_server.http_port, "/api/queues"))["queues"] if q["queue"] == other]
    assert free["controls"] == {"paused": False, "concurrency_limit": None, "per_key_concurrency": None,
                                "rate_limit": None, "rate_burst": None}
