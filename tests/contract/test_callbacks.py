"""Outbound callbacks in both stores: a move a subscription wants makes a delivery job on the
internal queue with the move (ack, failed attempt, dead letter, lapsed lease, cancel), carrying
the job's id, state, attempt, result and error; filters by queue and kind; a delivery's own moves
make none; a breaker opening makes the same delivery in both; and the subscriptions' store."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from broker.entities import callback
from broker.entities.breaker_settings import BreakerChange, Force
from broker.entities.callback import CALLBACK_QUEUE, SUBSCRIPTION_HEADER, CallbackEvent, Subscription
from broker.entities.job import JobState
from broker.entities.job_view import JobFilter
from tests.contract.conftest import ERA
from broker.entities.lease import Failure
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra.pg.breakers import PgBreakerStore
from broker.infra.pg.callbacks import PgSubscriptionStore
from broker.infra.pg.store import PgJobStore
from broker.usecases.nack import decider
from tests.contract.helpers import ref, running, seconds
from tests.fakes.breaker_store import InMemoryBreakerStore
from tests.fakes.subscription_store import InMemorySubscriptionStore

SECRET = "whsec_" + base64.b64encode(b"contract-secret").decode()
RETRY = RetryPolicy(initial_delay=3.0, max_delay=30.0, multiplier=2.0, jitter=Jitter.NONE)


@pytest.fixture
async def subscriptions(store, request):
    """The subscription store that goes with the job store; what a test subscribed is deleted
    after it (the database is shared: a subscription left behind costs every later move a join)."""
    if isinstance(store, PgJobStore):
        found = PgSubscriptionStore(request.getfixturevalue("db"))
    else:
        found = InMemorySubscriptionStore(store)
    before = {s.name for s in await found.list_subscriptions()}
    yield found
    for s in await found.list_subscriptions():
        if s.name not in before:
            await found.delete(s.name)


def subscription(queue: str, *events: CallbackEvent, kind: str | None = None, name: str | None = None):
    return Subscription(name or f"s-{uuid.uuid4().hex[:10]}", "https://example.com/hook",
                        events or tuple(CallbackEvent), (SECRET,), queue, kind, max_attempts=4, retry=RETRY)


async def deliveries_of(store, job_id: str) -> list:
    """The delivery jobs telling of `job_id`, oldest first, with their parsed bodies."""
    found = []
    for job in await store.list_jobs(JobFilter(queue=CALLBACK_QUEUE), 1000, None, ERA):
        body = json.loads(job.payload)
        if body["data"]["job_id"] == job_id:
            found.append((job, body))
    return sorted(found, key=lambda f: (f[0].created_at, f[1]["type"]))


async def test_an_ack_makes_a_delivery_with_the_result(store, subscriptions, queue, t0):
    sub = subscription(queue, CallbackEvent.JOB_SUCCEEDED)
    assert await subscriptions.create(sub, t0)
    job = await running(store, queue, t0)
    _, events = await store.complete([ref(job)], seconds(t0, 1), [b"\x00done"])
    [(delivery, body)] = await deliveries_of(store, job.id)
    assert [(e.job_id, e.queue, e.kind, e.from_state, e.to_state) for e in events[1:]] == [
        (delivery.id, CALLBACK_QUEUE, "job.succeeded", None, JobState.PENDING)]  # logged and counted
    assert (delivery.queue, delivery.kind, delivery.state) == (CALLBACK_QUEUE, "job.succeeded", JobState.PENDING)
    assert delivery.headers == {"subscription": sub.name} and delivery.run_at == seconds(t0, 1)
    assert (delivery.max_attempts, delivery.retry) == (4, RETRY)
    assert body["type"] == "job.succeeded" and body["timestamp"].startswith(seconds(t0, 1).strftime("%Y-%m-%dT%H:%M:%S"))
    assert body["data"] == {"job_id": job.id, "queue": queue, "kind": "email", "state": "succeeded",
                            "attempt": 1, "result": base64.b64encode(b"\x00done").decode(), "error": None}
    history = await store.history(delivery.id)
    assert [(e.from_state, e.to_state) for e in history] == [(None, JobState.PENDING)]


async def test_failed_attempts_dead_letters_lapses_and_cancels_make_their_events(store, subscriptions, queue, t0):
    await subscriptions.create(subscription(queue), t0)
    retried = await running(store, queue, t0)
    await store.fail([(ref(retried), Failure("boom"))], seconds(t0, 1), decider(seconds(t0, 1), None))
    dead = await running(store, queue, t0)
    await store.fail([(ref(dead), Failure("bad input", permanent=True))], seconds(t0, 1), decider(t0, None))
    lapsed = await running(store, queue, t0, lease_duration=5.0)
    reaped = await store.rescue_expired(seconds(t0, 6), 100, decider(seconds(t0, 6), None))
    cancelled = await running(store, queue, t0)
    _, events = await store.cancel(cancelled.id, seconds(t0, 2))
    assert [(e.queue, e.kind) for e in events] == [(queue, "email"), (CALLBACK_QUEUE, "job.cancelled")]
    assert (CALLBACK_QUEUE, "job.failed") in [(e.queue, e.kind) for e in reaped]

    def told(found):
        return [(b["type"], b["data"]["state"], b["data"]["attempt"], b["data"]["error"]) for _, b in found]

    assert told(await deliveries_of(store, retried.id)) == [("job.failed", "pending", 1, "boom")]
    assert told(await deliveries_of(store, dead.id)) == [("job.dead", "dead", 1, "bad input")]
    assert told(await deliveries_of(store, lapsed.id)) == [("job.failed", "pending", 1, "lease expired")]
    assert told(await deliveries_of(store, cancelled.id)) == [("job.cancelled", "cancelled", 1, None)]


async def test_filters_by_event_queue_and_kind(store, subscriptions, queue, t0):
    await subscriptions.create(subscription(queue, CallbackEvent.JOB_DEAD), t0)
    await subscriptions.create(subscription(queue, CallbackEvent.JOB_SUCCEEDED, kind="sms"), t0)
    await subscriptions.create(subscription(queue + "-other"), t0)
    job = await running(store, queue, t0)  # kind email
    await store.complete([ref(job)], seconds(t0, 1))
    assert await deliveries_of(store, job.id) == []
    sms = await running(store, queue, t0, kind="sms")
    await store.complete([ref(sms)], seconds(t0, 1))
    assert [b["type"] for _, b in await deliveries_of(store, sms.id)] == ["job.succeeded"]


async def test_each_subscription_gets_its_own_delivery(store, subscriptions, queue, t0):
    a, b = subscription(queue, name=f"a-{queue}"), subscription(queue, name=f"b-{queue}")
    await subscriptions.create(a, t0)
    await subscriptions.create(b, t0)
    job = await running(store, queue, t0)
    await store.complete([ref(job)], seconds(t0, 1))
    assert sorted(d.headers["subscription"] for d, _ in await deliveries_of(store, job.id)) == [a.name, b.name]


async def test_a_deliverys_own_moves_make_no_delivery(store, subscriptions, queue, t0):
    await subscriptions.create(subscription(queue), t0)
    await subscriptions.create(subscription(CALLBACK_QUEUE, name=f"own-{queue}"), t0)
    job = await running(store, queue, t0)
    await store.complete([ref(job)], seconds(t0, 1))
    [(delivery, _)] = await deliveries_of(store, job.id)
    delivery = await store.get(delivery.id)
    leased, _ = await store.claim([CALLBACK_QUEUE], "deliverer", 1000, None, seconds(t0, 2))
    mine = next(j for j in leased if j.id == delivery.id)
    await store.fail([(ref(mine), Failure("HTTP 500", permanent=True))], seconds(t0, 3), decider(t0, None))
    assert (await store.get(delivery.id)).state is JobState.DEAD
    assert await deliveries_of(store, delivery.id) == []
    await subscriptions.delete(f"own-{queue}")


async def test_the_subscription_store(subscriptions, queue, t0):
    sub = subscription(queue, CallbackEvent.JOB_SUCCEEDED, kind="email")
    assert await subscriptions.create(sub, t0) and not await subscriptions.create(sub, t0)
    got = await subscriptions.get(sub.name)
    assert (got.url, got.events, got.secrets, got.queue, got.kind, got.retry) == (
        sub.url, sub.events, sub.secrets, queue, "email", RETRY)
    assert got.created_at == got.updated_at == t0
    assert sub.name in [s.name for s in await subscriptions.list_subscriptions()]
    changed = Subscription(sub.name, "https://example.org/x", (CallbackEvent.JOB_DEAD,), (SECRET, SECRET), queue,
                           None, 7, RETRY)
    after = await subscriptions.update(changed, seconds(t0, 1))
    assert (after.url, after.events, after.secrets, after.queue, after.max_attempts) == (
        "https://example.org/x", (CallbackEvent.JOB_DEAD,), (SECRET, SECRET), queue, 7)
    assert (after.created_at, after.updated_at) == (t0, seconds(t0, 1))
    assert await subscriptions.update(Subscription("nobody-" + queue, "https://x.y", (), (), None), t0) is None
    assert await subscriptions.delete(sub.name) and not await subscriptions.delete(sub.name)
    assert await subscriptions.get(sub.name) is None


async def test_a_breaker_opening_makes_the_same_delivery_in_both_stores(store, subscriptions, queue, t0, request):
    """The body PgBreakerStore renders in SQL is entities.callback.breaker_body's, key for key; a
    subscription's kind filter does not hold back a queue's event, its queue filter does."""
    heard = []
    if isinstance(store, PgJobStore):
        breakers = PgBreakerStore(request.getfixturevalue("db"), store.breaker_names, record=heard.extend)
    else:
        breakers = InMemoryBreakerStore(store, record=heard.extend)
    wanted = subscription(queue, CallbackEvent.QUEUE_BREAKER_OPENED, kind="some-kind", name=f"a-{queue}")
    elsewhere = subscription(f"{queue}-other", CallbackEvent.QUEUE_BREAKER_OPENED)
    deaf = subscription(queue, CallbackEvent.JOB_SUCCEEDED)
    for sub in (wanted, elsewhere, deaf):
        assert await subscriptions.create(sub, t0)
    try:
        _, event = await breakers.change(queue, BreakerChange(force=Force.OPEN), t0)
        mine = [j for j in await store.list_jobs(JobFilter(queue=CALLBACK_QUEUE), 1000, None, ERA)
                if j.kind == CallbackEvent.QUEUE_BREAKER_OPENED.value and json.loads(j.payload)["data"]["queue"] == queue]
        assert len(mine) == 1
        delivery = mine[0]
        assert delivery.headers == {SUBSCRIPTION_HEADER: wanted.name}
        assert json.loads(delivery.payload) == callback.breaker_body(queue, "closed", event.reason, True, event.at)
        assert delivery.max_attempts == wanted.max_attempts and delivery.state is JobState.PENDING
        assert [e.job_id for e in heard] == [delivery.id]  # told to the job log after the commit
    finally:
        await breakers.change(queue, BreakerChange(remove=True), t0)
