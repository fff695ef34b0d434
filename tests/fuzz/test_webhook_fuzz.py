"""POST /webhooks/{source} with arbitrary sources, headers and bodies, and with real signed
deliveries mutated (Hypothesis): always one of the documented answers with a message, never a
5xx, and the database unchanged unless the answer is 201 (then the job holds the exact body).
The broker runs with authentication on: the webhook endpoint stays open, its signature is the
authentication."""

from __future__ import annotations

import os
import time
import urllib.parse

import aiohttp
import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from broker.entities.webhook import SCHEMES
from tests import webhook_senders as send
from tests.brokers import fresh_database, running_broker
from tests.fuzz.test_rpc_fuzz import FINGERPRINT

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
RANDOM = bool(os.environ.get("FUZZ_RANDOM"))
MAX_BODY = 2048
ANSWERS = {200, 201, 400, 401, 404, 413}
HEADER_NAMES = ["webhook-id", "webhook-timestamp", "webhook-signature", "X-Hub-Signature-256",
                "X-GitHub-Delivery", "X-GitHub-Event", "Stripe-Signature", "Content-Type", "Content-Encoding"]
value = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7e), max_size=80)
# Values that look like each scheme's, wrong in some way.
shaped = st.one_of(value, st.builds(lambda n, s: f"v1,{s}" if n else s, st.booleans(), value),
                   st.builds(lambda t, s: f"t={t},v1={s}", st.integers(-5, 2**40), value),
                   st.builds(lambda s: f"sha256={s}", st.text("0123456789abcdefg", max_size=66)),
                   st.integers(0, 2**40).map(str))


@pytest.fixture(scope="module")
async def target(database_url, tmp_path_factory):
    env = send.sources_env(tmp_path_factory.mktemp("fuzz-hooks"), BROKER_AUTH="true",
                           BROKER_WEBHOOK_MAX_BODY=str(MAX_BODY), BROKER_ACCESS_LOG="false",
                           BROKER_REAPER_INTERVAL="3600", BROKER_PRUNE_INTERVAL="3600")
    async with fresh_database(database_url) as url, running_broker(url, **env) as broker:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=2)
        async with aiohttp.ClientSession() as session:
            yield f"http://127.0.0.1:{broker.http_port}", pool, session
        await pool.close()


def signed(source: str, body: bytes, uid: str) -> dict[str, str]:
    if source == "std":  # any bytes (the reference library signs text only)
        scheme = SCHEMES["standard"]
        return scheme.sign(scheme.key(send.STANDARD_SECRET), body, uid, int(time.time()))
    return send.github(body, uid) if source == "gh" else send.stripe(body)


@st.composite
def deliveries(draw):
    known = st.sampled_from(["std", "gh", "pay"])
    source = draw(known if draw(st.integers(0, 3)) else st.text(max_size=20))
    body = draw(st.one_of(st.binary(max_size=64), st.binary(min_size=MAX_BODY - 4, max_size=MAX_BODY + 4),
                          st.just(b'{"id": "evt_f"}')))
    if draw(st.integers(0, 2)) and source in ("std", "gh", "pay"):  # a real delivery, perhaps spoilt
        headers = signed(source, body, draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7e),
                                                      min_size=1, max_size=300)))
        spoil = draw(st.sampled_from(["none", "body", "header", "drop"]))
        if spoil == "body":
            body = body + draw(st.binary(min_size=1, max_size=4))
        elif spoil in ("header", "drop"):
            name = draw(st.sampled_from(sorted(headers)))
            headers = {k: v for k, v in headers.items() if k != name}
            if spoil == "header":
                headers[name] = draw(shaped)
    else:
        headers = draw(st.dictionaries(st.sampled_from(HEADER_NAMES), shaped, max_size=5))
    return source, body, headers


@settings(max_examples=EXAMPLES * 3, deadline=None, derandomize=not RANDOM, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(delivery=deliveries())
async def test_any_delivery_gets_a_documented_answer(target, delivery):
    base, pool, session = target
    source, body, headers = delivery
    before = await pool.fetchrow(FINGERPRINT)
    url = f"{base}/webhooks/{urllib.parse.quote(source, safe='') or '%20'}"
    async with session.post(url, data=body, headers=headers) as r:
        status, answer = r.status, await r.json(content_type=None)
    assert status in ANSWERS, (status, answer, delivery)
    event(f"status {status}")
    if status == 201:  # a new job, holding the exact body
        stored = await pool.fetchval("SELECT payload FROM broker_jobs WHERE id = $1", answer["job_id"])
        assert bytes(stored) == body
        return
    if status == 200:  # a delivery id seen before: its first job, and nothing new
        assert await pool.fetchval("SELECT count(*) FROM broker_jobs WHERE id = $1", answer["job_id"]) == 1
    else:
        assert answer["error"], delivery
    assert tuple(await pool.fetchrow(FINGERPRINT)) == tuple(before), ("refused or repeated delivery stored", delivery)


async def test_the_fuzz_target_takes_a_good_delivery(target):
    """The strategies above reach the accepting path: a well-signed delivery is taken (auth on)."""
    base, _, session = target
    body = f'{{"id": "evt_{time.time_ns()}"}}'.encode()
    async with session.post(f"{base}/webhooks/pay", data=body, headers=send.stripe(body)) as r:
        assert r.status == 201
