"""Inbound webhooks over real HTTP on loopback: a sender per scheme (Standard Webhooks signed
by its reference library), the job in the database with the raw body as payload, duplicates,
replays, tampered bodies, wrong secrets, oversize bodies and unknown sources refused with
nothing stored, and the counter."""

from __future__ import annotations

import json
import time
import uuid

import aiohttp
import asyncpg
import pytest

from tests import webhook_senders as send
from tests.brokers import fresh_database, running_broker

MAX_BODY = 4096


@pytest.fixture(scope="module")
async def hooks(database_url, tmp_path_factory):
    """A broker serving the three sources, on a database of its own; yields (base URL, pool)."""
    env = send.sources_env(tmp_path_factory.mktemp("hooks"), BROKER_WEBHOOK_MAX_BODY=str(MAX_BODY))
    async with fresh_database(database_url) as url, running_broker(url, **env) as broker:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        try:
            yield f"http://127.0.0.1:{broker.http_port}", pool
        finally:
            await pool.close()


async def post(base: str, source: str, body, headers: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/webhooks/{source}", data=body, headers=headers) as r:
            return r.status, await r.json()


async def jobs_of(pool, queue: str, key_part: str = ""):
    return await pool.fetch("SELECT id::text, kind, payload, headers, idempotency_key FROM broker_jobs "
                            "WHERE queue = $1 AND coalesce(idempotency_key, '') LIKE $2",
                            queue, f"%{key_part}%")


def event_body() -> tuple[bytes, str]:
    uid = uuid.uuid4().hex
    # Bytes as a provider sends them: spacing and key order that a re-serialization would change.
    return f'{{"id":  "evt_{uid}", "type": "x.y",\n "n": [1, 2]}}'.encode(), uid


async def test_standard_webhooks_delivery_makes_one_job_with_the_raw_body(hooks):
    base, pool = hooks
    body, uid = event_body()
    status, answer = await post(base, "std", body, send.standard(body, f"msg_{uid}"))
    assert (status, answer["created"]) == (201, True)
    [job] = await jobs_of(pool, send.QUEUES["std"], uid)
    assert (job["id"], job["kind"], bytes(job["payload"])) == (answer["job_id"], "standard.event", body)
    assert job["idempotency_key"] == f"webhook:std:msg_{uid}"
    assert json.loads(job["headers"]) == {"content-type": "application/json", "webhook-source": "std",
                                          "webhook-delivery-id": f"msg_{uid}"}


async def test_the_rotated_in_secret_is_valid_alongside_the_old_one(hooks):
    base, pool = hooks
    body, uid = event_body()
    status, _ = await post(base, "std", body, send.standard(body, f"msg_{uid}", secret=send.STANDARD_NEXT))
    assert status == 201


async def test_github_and_stripe_deliveries(hooks):
    base, pool = hooks
    body, uid = event_body()
    status, answer = await post(base, "gh", body, send.github(body, f"gh-{uid}", event="issues"))
    assert status == 201
    [job] = await jobs_of(pool, send.QUEUES["gh"], uid)
    assert bytes(job["payload"]) == body and job["idempotency_key"] == f"webhook:gh:gh-{uid}"
    assert json.loads(job["headers"])["x-github-event"] == "issues"
    status, answer = await post(base, "pay", body, send.stripe(body))
    assert status == 201
    [job] = await jobs_of(pool, send.QUEUES["pay"], uid)
    assert job["idempotency_key"] == f"webhook:pay:evt_{uid}"  # Stripe's event id, from the body


@pytest.mark.parametrize("source, sign", [
    ("std", lambda body, uid: send.standard(body, f"msg_{uid}")),
    ("gh", lambda body, uid: send.github(body, f"gh-{uid}")),
    ("pay", lambda body, uid: send.stripe(body)),
])
async def test_a_duplicate_delivery_id_is_answered_2xx_and_makes_no_second_job(hooks, source, sign):
    base, pool = hooks
    body, uid = event_body()
    first = await post(base, source, body, sign(body, uid))
    again = await post(base, source, body, sign(body, uid))
    assert first[0] == 201 and again == (200, {"job_id": first[1]["job_id"], "created": False})
    assert len(await jobs_of(pool, send.QUEUES[source], uid)) == 1


async def count_all(pool) -> tuple[int, int]:
    return tuple(await pool.fetchrow("SELECT (SELECT count(*) FROM broker_jobs), (SELECT count(*) FROM broker_events)"))


@pytest.mark.parametrize("case, source, status", [
    ("tampered body", "std", 401), ("wrong secret", "std", 401), ("replay", "std", 400), ("future", "std", 400),
    ("no signature", "std", 400), ("github tampered", "gh", 401), ("github wrong secret", "gh", 401),
    ("github no delivery id", "gh", 400), ("stripe replay", "pay", 400), ("stripe wrong secret", "pay", 401),
    ("stripe not json", "pay", 400), ("unknown source", "nobody", 404), ("bad source name", "..%2F", 404),
])
async def test_refused_deliveries_store_nothing(hooks, case, source, status):
    base, pool = hooks
    body, uid = event_body()
    old = int(time.time()) - 301
    headers = {
        "tampered body": lambda: send.standard(body + b" ", f"m{uid}"),
        "wrong secret": lambda: send.standard(body, f"m{uid}", secret="whsec_" + "QUJD" * 8),
        "replay": lambda: send.standard(body, f"m{uid}", ts=old),
        "future": lambda: send.standard(body, f"m{uid}", ts=old + 700),
        "no signature": lambda: {k: v for k, v in send.standard(body, f"m{uid}").items() if k != "webhook-signature"},
        "github tampered": lambda: send.github(body[:-1], uid),
        "github wrong secret": lambda: send.github(body, uid, secret="nope"),
        "github no delivery id": lambda: {k: v for k, v in send.github(body, uid).items() if k != "X-GitHub-Delivery"},
        "stripe replay": lambda: send.stripe(body, ts=old),
        "stripe wrong secret": lambda: send.stripe(body, secret="whsec_other"),
        "stripe not json": lambda: send.stripe(b"not json"),
        "unknown source": lambda: send.standard(body, f"m{uid}"),
        "bad source name": lambda: send.standard(body, f"m{uid}"),
    }[case]()
    sent = b"not json" if case == "stripe not json" else body
    before = await count_all(pool)
    got, answer = await post(base, source, sent, headers)
    assert got == status and answer["error"]
    assert uid not in answer["error"] and "evt_" not in answer["error"]  # nothing of the body echoed
    assert await count_all(pool) == before


async def test_a_body_over_the_limit_is_413_with_or_without_a_length(hooks):
    base, pool = hooks
    body = b'{"id": "evt_big", "pad": "' + b"x" * MAX_BODY + b'"}'
    before = await count_all(pool)
    assert (await post(base, "std", body, send.standard(body, "big-1")))[0] == 413

    async def chunks():  # chunked: no Content-Length to refuse it by
        for i in range(0, len(body), 1000):
            yield body[i:i + 1000]
    assert (await post(base, "std", chunks(), send.standard(body, "big-2")))[0] == 413
    assert await count_all(pool) == before
    exact = b"x" * MAX_BODY  # the limit itself is allowed (the Standard scheme takes any bytes)
    assert (await post(base, "std", exact, send.standard(exact, f"exact-{uuid.uuid4().hex}")))[0] == 201


async def test_outcomes_are_counted(hooks):
    base, _ = hooks
    body, uid = event_body()
    await post(base, "gh", body, send.github(body, uid, secret="nope"))
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{base}/metrics") as r:
            text = await r.text()
    assert 'broker_webhooks_received_total{outcome="bad_signature",source="gh"}' in text


async def test_a_form_encoded_delivery_is_taken_as_it_came(hooks):
    """GitHub may send application/x-www-form-urlencoded: the dashboard's JSON-only rule for
    POSTs does not apply to webhooks, whose signature is their authentication."""
    base, pool = hooks
    uid = uuid.uuid4().hex
    body = f"payload=%7B%22id%22%3A%22{uid}%22%7D".encode()
    headers = send.github(body, f"form-{uid}") | {"Content-Type": "application/x-www-form-urlencoded"}
    assert (await post(base, "gh", body, headers))[0] == 201
    [job] = await jobs_of(pool, send.QUEUES["gh"], uid)
    assert bytes(job["payload"]) == body
