"""The dashboard's jobs API on the real broker's HTTP port: jobs in every state with filters,
search, pages and totals; cancel, retry now, purge by state; a queue's controls and breaker;
each refusal a 4xx naming the field, which changes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp
from google.protobuf import timestamp_pb2

from broker.v1 import admin_service_pb2 as apb, job_pb2
from tests.e2e.helpers import ack, duration, enqueue, lease, nack
from tests.e2e.observe import get_json, job_log, post_json, scrape

UNKNOWN = "0b5e3a52-0000-4000-8000-000000000000"
NO_JITTER = job_pb2.RetryPolicy(initial_delay=duration(3600), jitter=job_pb2.JITTER_NONE)
ORDER = ("cancelled", "dead", "succeeded", "running", "retrying", "scheduled", "ready")  # newest first


def _at(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


async def every_view(jobs, admin, clock, queue: str) -> dict[str, str]:
    """One job of `queue` in each view state, enqueued in the order opposite to ORDER; the pending
    ones of kind "a" (a key on the ready one), the others of kind "b" (a concurrency key)."""
    later = _at(clock.now() + timedelta(hours=2))
    ids = {}
    ids["ready"], = await enqueue(jobs, queue, kind="a", idempotency_key=f"key-{queue}", priority=100)
    ids["scheduled"], = await enqueue(jobs, queue, kind="a", run_at=later)
    ids["retrying"], = await enqueue(jobs, queue, kind="a", retry_policy=NO_JITTER)
    [leased] = await lease(jobs, queue)
    await nack(jobs, leased, error="first line\n  second line")
    for name in ("running", "succeeded", "dead"):
        ids[name], = await enqueue(jobs, queue, kind="b", concurrency_key="c-1", max_attempts=1)
        [leased] = await lease(jobs, queue, lease_duration=duration(3600))
        assert leased.job.id == ids[name]
        if name == "succeeded":
            await ack(jobs, leased)
        elif name == "dead":
            await nack(jobs, leased, error="fatal")
    ids["cancelled"], = await enqueue(jobs, queue, kind="b", run_at=later)
    await admin.CancelJob(apb.CancelJobRequest(job_id=ids["cancelled"]))
    return ids


async def listing(port: int, query: str) -> dict:
    return await get_json(port, f"/api/jobs?{query}")


def ids_of(page: dict) -> list[str]:
    return [j["id"] for j in page["jobs"]]


async def call(port: int, method: str, path: str, body: str | None = None) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"http://127.0.0.1:{port}{path}", data=body,
                                   headers={"Content-Type": "application/json"}) as r:
            return r.status, await r.json()


# -- the listing ------------------------------------------------------------------------------

async def test_every_view_state_filters_the_queue_s_jobs(jobs, admin, clock, queue, broker_server):
    port = broker_server.http_port
    ids = await every_view(jobs, admin, clock, queue)

    everything = await listing(port, f"queue={queue}")
    assert ids_of(everything) == [ids[v] for v in ORDER]
    assert (everything["total"], everything["total_capped"], everything["next_page_token"]) == (7, False, "")
    assert [j["view_state"] for j in everything["jobs"]] == list(ORDER)
    for view, job_id in ids.items():
        page = await listing(port, f"queue={queue}&state={view}")
        assert (ids_of(page), page["total"]) == ([job_id], 1), view
    rows = {j["view_state"]: j for j in everything["jobs"]}
    assert rows["ready"]["idempotency_key"] == f"key-{queue}" and rows["ready"]["state"] == "pending"
    assert rows["retrying"]["last_error"] == "first line\n  second line"  # the whole text
    assert rows["running"]["concurrency_key"] == "c-1" and rows["running"]["lease_expires_at"]
    assert rows["running"]["progress"] is None and rows["ready"]["lease_expires_at"] is None
    detail = await get_json(port, f"/api/jobs/{ids['scheduled']}")
    assert (detail["job"]["view_state"], detail["job"]["state"]) == ("scheduled", "pending")


async def test_kind_filters_and_a_search_by_id_or_key_spans_the_queues(jobs, admin, clock, queue, broker_server):
    port = broker_server.http_port
    ids = await every_view(jobs, admin, clock, queue)
    key = f"key-{queue}"
    (elsewhere,) = await enqueue(jobs, queue + "-b", idempotency_key=key)

    assert ids_of(await listing(port, f"queue={queue}&kind=a")) == [ids[v] for v in ("retrying", "scheduled", "ready")]
    assert ids_of(await listing(port, f"queue={queue}&kind=b&state=dead")) == [ids["dead"]]
    assert (await listing(port, f"queue={queue}&kind=none"))["jobs"] == []
    found = await listing(port, f"q={key}")
    assert (ids_of(found), found["total"]) == ([elsewhere, ids["ready"]], 2)
    assert ids_of(await listing(port, f"q={key}&queue={queue}")) == [ids["ready"]]
    assert ids_of(await listing(port, f"q={ids['dead']}")) == [ids["dead"]]
    assert ids_of(await listing(port, f"q={ids['dead'].upper()}&state=dead")) == [ids["dead"]]
    assert (await listing(port, f"q={ids['dead']}&state=ready"))["jobs"] == []
    assert (await listing(port, f"q={UNKNOWN}"))["total"] == 0
    # Every queue at once, by a kind of this test's own.
    first, = await enqueue(jobs, queue, kind=f"only-{queue}")
    second, = await enqueue(jobs, queue + "-c", kind=f"only-{queue}")
    both = await listing(port, f"kind=only-{queue}&state=ready")
    assert (ids_of(both), both["total"]) == ([second, first], 2)


async def test_pages_follow_each_other_and_a_token_continues_only_its_listing(jobs, admin, clock, queue, broker_server):
    port = broker_server.http_port
    ids = await every_view(jobs, admin, clock, queue)
    seen, token, pages = [], "", 0
    while True:
        page = await listing(port, f"queue={queue}&limit=3&page_token={token}")
        assert page["total"] == 7 and len(page["jobs"]) <= 3
        seen += ids_of(page)
        pages, token = pages + 1, page["next_page_token"]
        if not token:
            break
    assert (seen, pages) == ([ids[v] for v in ORDER], 3)

    token = (await listing(port, f"queue={queue}&limit=3"))["next_page_token"]
    for other in (f"queue={queue}&kind=a", f"queue={queue}&state=dead", f"queue={queue}-b", f"q={UNKNOWN}"):
        status, body = await call(port, "GET", f"/api/jobs?{other}&limit=3&page_token={token}")
        assert (status, body["error"].split(":")[0]) == (400, "page_token"), other


async def test_the_total_is_counted_up_to_ten_thousand(jobs, queue, broker_server):
    for _ in range(11):
        await enqueue(jobs, queue, 1000)
    capped = await listing(broker_server.http_port, f"queue={queue}&limit=1")
    assert (capped["total"], capped["total_capped"], len(capped["jobs"])) == (10_000, True, 1)
    assert capped["next_page_token"]
    exact = await listing(broker_server.http_port, f"queue={queue}&state=scheduled")
    assert (exact["total"], exact["total_capped"]) == (0, False)


BAD_LISTINGS = [
    ("state=pending", "state"), ("state=READY", "state"), ("state=nope", "state"), ("limit=0", "limit"),
    ("limit=1001", "limit"), ("limit=ten", "limit"), ("queue=bad%20queue!", "queue"),
    ("page_token=forged", "page_token"), ("kind=" + "k" * 129, "kind"), ("q=" + "x" * 257, "q"),
    ("q=a%00b", "q"), ("kind=a%00b", "kind"),
]


async def test_a_bad_listing_is_400_naming_its_parameter(broker_server):
    for query, field in BAD_LISTINGS:
        status, body = await call(broker_server.http_port, "GET", f"/api/jobs?{query}")
        assert (status, body.get("error", str(body)).split(":")[0]) == (400, field), (query, body)


# -- the actions -----------------------------------------------------------------------------

async def states(admin, ids: dict[str, str]) -> dict[str, tuple]:
    """Each job's state, run_at and attempt, as GetJob has them."""
    found = {}
    for name, job_id in ids.items():
        job = (await admin.GetJob(apb.GetJobRequest(job_id=job_id))).job
        found[name] = (job.state, job.run_at.ToDatetime(), job.attempt)
    return found


async def test_cancel_a_pending_or_running_job_and_refuse_the_rest(jobs, admin, clock, queue, broker_server):
    port = broker_server.http_port
    ids = await every_view(jobs, admin, clock, queue)
    for name in ("ready", "running"):
        status, body = await call(port, "POST", f"/api/jobs/{ids[name]}/cancel")
        assert (status, body["job"]["state"], body["job"]["view_state"]) == (200, "cancelled", "cancelled"), name
    before = await states(admin, ids)
    for path, body, expected in [
        (f"/api/jobs/{ids['succeeded']}/cancel", None, (409, "job")),
        (f"/api/jobs/{ids['dead']}/cancel", "{}", (409, "job")),
        (f"/api/jobs/{UNKNOWN}/cancel", None, (404, "job")),
        ("/api/jobs/nope/cancel", None, (400, "job_id")),
        (f"/api/jobs/{ids['scheduled']}/cancel", '{"force": true}', (400, "body")),
        (f"/api/jobs/{ids['scheduled']}/cancel", "[", (400, "body")),
    ]:
        status, answer = await call(port, "POST", path, body)
        assert (status, answer["error"].split(" ")[0].rstrip(":")) == expected, (path, body, answer)
    assert await states(admin, ids) == before


async def test_retry_now_redrives_dead_jobs_and_makes_waiting_ones_ready(jobs, admin, clock, queue, broker_server):
    port = broker_server.http_port
    ids = await every_view(jobs, admin, clock, queue)
    with job_log() as lines:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/api/jobs/{ids['scheduled']}/retry",
                                    json={}, headers={"X-Request-Id": "req-retry"}) as r:
                assert r.status == 200
                scheduled = (await r.json())["job"]
    assert (scheduled["view_state"], scheduled["attempt"]) == ("ready", 0)
    [line] = [x for x in lines if x["queue"] == queue]
    assert (line["job_id"], line["reason"], line["from"], line["to"], line["request_id"]) == (
        ids["scheduled"], "retry_now", "pending", "pending", "req-retry")

    status, body = await post_json(port, f"/api/jobs/{ids['retrying']}/retry", {})
    assert (status, body["job"]["view_state"], body["job"]["attempt"]) == (200, "ready", 1)
    assert [e["error"] for e in body["job"]["errors"]] == ["first line\n  second line"]
    status, body = await call(port, "POST", f"/api/jobs/{ids['dead']}/retry")
    assert (status, body["job"]["view_state"], body["job"]["attempt"]) == (200, "ready", 0)
    events = (await get_json(port, f"/api/jobs/{ids['retrying']}"))["events"]
    assert [(e["reason"], e["from"], e["to"]) for e in events][-1] == ("retry_now", "pending", "pending")

    leased = await lease(jobs, queue, 10)
    assert {j.job.id for j in leased} == {ids[n] for n in ("scheduled", "retrying", "dead", "ready")}
    _, m = await scrape(port)
    assert m.get_value("broker_jobs_retried_now_total", queue=queue) == 2
    assert m.get_value("broker_jobs_redriven_total", queue=queue) == 1


async def test_retry_now_refuses_a_job_with_nothing_to_wait_for(jobs, admin, clock, queue, broker_server):
    port = broker_server.http_port
    ids = await every_view(jobs, admin, clock, queue)
    before = await states(admin, ids)
    for path, body, expected in [
        *((f"/api/jobs/{ids[n]}/retry", None, (409, "job")) for n in ("ready", "running", "succeeded", "cancelled")),
        (f"/api/jobs/{UNKNOWN}/retry", None, (404, "job")),
        ("/api/jobs/42/retry", None, (400, "job_id")),
        (f"/api/jobs/{ids['dead']}/retry", '{"reset_attempts": "no"}', (400, "reset_attempts")),
        (f"/api/jobs/{ids['dead']}/retry", '{"reset": true}', (400, "body")),
        (f"/api/jobs/{ids['scheduled']}/retry", "[]", (400, "body")),
    ]:
        status, answer = await call(port, "POST", path, body)
        assert (status, answer["error"].split(" ")[0].rstrip(":")) == expected, (path, body, answer)
    assert await states(admin, ids) == before
    status, body = await call(port, "POST", f"/api/jobs/{ids['dead']}/retry", '{"reset_attempts": false}')
    assert (status, body["job"]["view_state"], body["job"]["attempt"]) == (200, "ready", 1)


async def test_purge_takes_the_finished_state_asked_for(jobs, admin, clock, queue, broker_server):
    port = broker_server.http_port
    ids = await every_view(jobs, admin, clock, queue)
    before = await states(admin, ids)
    for body, field in [({"queue": queue, "state": "running"}, "state"), ({"queue": queue, "state": "pending"}, "state"),
                        ({"queue": queue, "state": 7}, "state"), ({"queue": queue, "state": "READY"}, "state"),
                        ({"queue": queue, "status": "dead"}, "body")]:
        status, answer = await post_json(port, "/api/purge", body)
        assert (status, answer["error"].split(":")[0]) == (400, field), body
    assert await states(admin, ids) == before

    both = [ids["cancelled"], ids["succeeded"]]
    assert await post_json(port, "/api/purge", {"job_ids": both, "state": "cancelled"}) == (200, {"purged": 1})
    assert await post_json(port, "/api/purge", {"queue": queue, "state": "succeeded"}) == (200, {"purged": 1})
    assert await post_json(port, "/api/purge", {"job_ids": [ids["dead"], ids["ready"]]}) == (200, {"purged": 1})
    left = await listing(port, f"queue={queue}")
    assert ids_of(left) == [ids[v] for v in ORDER if v not in ("cancelled", "succeeded", "dead")]


async def controls_of(admin, queue: str) -> tuple:
    q = (await admin.GetQueue(apb.GetQueueRequest(queue=queue))).queue
    return q.paused, q.concurrency_limit, q.per_key_concurrency, q.rate_limit, q.rate_burst


async def test_a_queue_s_controls_change_and_clear_from_the_dashboard(admin, queue, broker_server):
    port = broker_server.http_port
    status, body = await post_json(port, f"/api/queues/{queue}/controls",
                                   {"paused": True, "concurrency_limit": 3, "per_key_concurrency": 1,
                                    "rate_limit": 2.5, "rate_burst": 5})
    assert (status, body) == (200, {"queue": queue, "controls": {
        "paused": True, "concurrency_limit": 3, "per_key_concurrency": 1, "rate_limit": 2.5, "rate_burst": 5}})
    assert await controls_of(admin, queue) == (True, 3, 1, 2.5, 5)
    for raw, field in [('{"paused": "yes"}', "paused"), ('{"paused": 1}', "paused"),
                       ('{"concurrency_limit": -1}', "concurrency_limit"), ('{"concurrency_limit": 1.5}', "concurrency_limit"),
                       ('{"concurrency_limit": true}', "concurrency_limit"), ('{"rate_limit": "fast"}', "rate_limit"),
                       ('{"rate_limit": -2}', "rate_limit"), ('{"rate_burst": 0}', "rate_burst"),
                       ('{"per_key_concurrency": [1]}', "per_key_concurrency"), ('{"limit": 3}', "body"),
                       ("[]", "body"), ("", "body"), ("{", "body")]:
        status, answer = await call(port, "POST", f"/api/queues/{queue}/controls", raw)
        assert (status, answer["error"].split(":")[0]) == (400, field), raw
    status, answer = await call(port, "POST", "/api/queues/bad%20queue!/controls", '{"paused": true}')
    assert (status, answer["error"].split(":")[0]) == (400, "queue")
    assert await controls_of(admin, queue) == (True, 3, 1, 2.5, 5)

    status, body = await post_json(port, f"/api/queues/{queue}/controls",
                                   {"paused": False, "concurrency_limit": None, "rate_limit": None})
    assert body["controls"] == {"paused": False, "concurrency_limit": None, "per_key_concurrency": 1,
                                "rate_limit": None, "rate_burst": None}
    assert await post_json(port, f"/api/queues/{queue}/controls", {}) == (200, body)
    await post_json(port, f"/api/queues/{queue}/controls", {"per_key_concurrency": None})
    assert await controls_of(admin, queue) == (False, 0, 0, 0.0, 0)


async def test_a_queue_s_breaker_is_forced_and_released_from_the_dashboard(admin, queue, broker_server):
    port = broker_server.http_port
    for action, expected in [("open", ("open", True)), ("close", ("closed", True)), ("auto", ("closed", False))]:
        status, body = await post_json(port, f"/api/queues/{queue}/breaker", {"action": action})
        assert (status, body["queue"], body["breaker"], body["forced"]) == (200, queue, *expected), action
        breaker = (await admin.GetQueue(apb.GetQueueRequest(queue=queue))).queue.breaker
        assert breaker.forced is expected[1]
    for raw, field in [('{"action": "half_open"}', "action"), ("{}", "action"), ('{"action": 1}', "action"),
                       ('{"action": "open", "for": 5}', "body"), ("", "body")]:
        status, answer = await call(port, "POST", f"/api/queues/{queue}/breaker", raw)
        assert (status, answer["error"].split(":")[0]) == (400, field), raw
    assert not (await admin.GetQueue(apb.GetQueueRequest(queue=queue))).queue.breaker.forced
