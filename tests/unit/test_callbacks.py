"""Outbound callbacks with the fakes: the rules of a subscription's fields (bad input names the
field, nothing is stored), which moves make which events, the signatures (checked by the
Standard Webhooks reference library), and the delivery worker's pass: a 2xx acks, anything else
retries under the subscription's policy, a refused target or a deleted subscription fails for
good. Time moves by the clock; nothing sleeps."""

from __future__ import annotations

import base64
import ipaddress
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from broker.entities import callback
from broker.entities.callback import CALLBACK_QUEUE, CallbackEvent, event_of, is_public
from broker.entities.errors import AlreadyExists, InvalidArgument, SubscriptionNotFound
from broker.entities.job import JobState, Reason
from broker.entities.lease import LeaseRef
from broker.usecases.callbacks.define import Definitions, DeliveryPolicy, SubscriptionSpec
from broker.entities.queue import Limits
from broker.usecases.ack import AckItem
from broker.usecases.callbacks.ports import Reply
from tests.unit.conftest import World

ONE = "whsec_" + base64.b64encode(b"first secret of the unit tests").decode()
TWO = "whsec_" + base64.b64encode(b"second secret of the unit tests").decode()


def spec(**fields) -> SubscriptionSpec:
    values = dict(name="billing", url="https://hooks.example.com/broker", events=("job.succeeded",),
                  secrets=(ONE,), queue="steady")
    values.update(fields)
    return SubscriptionSpec(**values)


@pytest.mark.parametrize("fields, field", [
    ({"name": ""}, "name"), ({"name": "a b"}, "name"),
    ({"url": ""}, "url"), ({"url": "hooks.example.com"}, "url"), ({"url": "file:///etc/passwd"}, "url"),
    ({"url": "https://user:pw@example.com/"}, "url"), ({"url": "https://example.com:99999/"}, "url"),
    ({"url": "https://example.com/" + "x" * 2100}, "url"), ({"url": "http://10.0.0.8/hook"}, "url"),
    ({"url": "http://[::1]:8080/"}, "url"), ({"url": "http://169.254.169.254/latest"}, "url"),
    ({"events": ()}, "events"), ({"events": ("job.succeeded", "job.lost")}, "events[1]"),
    ({"secrets": ()}, "secrets"), ({"secrets": ("",)}, "secrets[0]"), ({"secrets": (ONE, "whsec_%%")}, "secrets[1]"),
    ({"secrets": (ONE, TWO, ONE)}, "secrets"), ({"queue": "no spaces"}, "queue"),
    ({"kind": "k" * 300}, "kind"), ({"max_attempts": 1001}, "max_attempts"),
])
async def test_bad_input_names_the_field_and_stores_nothing(world: World, fields, field):
    with pytest.raises(InvalidArgument) as bad:
        await world.subscribe.create(spec(**fields))
    assert bad.value.field == field
    assert await world.subscribe.list() == []


def test_private_literal_addresses_are_accepted_with_the_allow_setting():
    allowed = Definitions(Limits(), DeliveryPolicy(allow_private=True))
    assert allowed.check(spec(url="http://127.0.0.1:9/x")).url == "http://127.0.0.1:9/x"


@pytest.mark.parametrize("address, public", [
    ("93.184.216.34", True), ("2606:2800:220:1:248:1893:25c8:1946", True), ("127.0.0.1", False),
    ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False), ("169.254.169.254", False),
    ("::1", False), ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False), ("0.0.0.0", False),
    ("224.0.0.1", False), ("100.64.0.1", False),
])
def test_which_addresses_are_public(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


def test_which_moves_make_which_events():
    assert event_of(Reason.ACK, JobState.SUCCEEDED, "q") is CallbackEvent.JOB_SUCCEEDED
    assert event_of(Reason.NACK, JobState.PENDING, "q") is CallbackEvent.JOB_FAILED
    assert event_of(Reason.EXPIRE, JobState.DEAD, "q") is CallbackEvent.JOB_DEAD
    assert event_of(Reason.CANCEL, JobState.CANCELLED, "q") is CallbackEvent.JOB_CANCELLED
    assert event_of(Reason.LEASE, JobState.RUNNING, "q") is None
    assert event_of(Reason.REDRIVE, JobState.PENDING, "q") is None
    assert event_of(Reason.ACK, JobState.SUCCEEDED, CALLBACK_QUEUE) is None


def test_each_secret_signs_and_the_reference_library_verifies_either():
    body = b'{"type": "job.succeeded"}'
    headers = dict(callback.sign((TWO, ONE), "delivery-1", int(time.time()), body))  # the library reads the time
    assert headers["webhook-id"] == "delivery-1" and len(headers["webhook-signature"].split()) == 2
    for secret in (ONE, TWO):
        Webhook(secret).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"some other secret").decode()).verify(body, headers)


async def test_create_get_update_delete(world: World):
    created = await world.subscribe.create(spec(events=("job.dead", "job.succeeded", "job.dead")))
    assert created.events == (CallbackEvent.JOB_DEAD, CallbackEvent.JOB_SUCCEEDED) and created.max_attempts == 12
    with pytest.raises(AlreadyExists):
        await world.subscribe.create(spec())
    updated = await world.subscribe.update(spec(url="https://other.example.com/", secrets=(), max_attempts=3))
    assert (updated.url, updated.secrets, updated.max_attempts) == ("https://other.example.com/", (ONE,), 3)
    rotated = await world.subscribe.update(spec(secrets=(TWO, ONE)))
    assert rotated.secrets == (TWO, ONE)
    await world.subscribe.delete("billing")
    for call in (world.subscribe.get("billing"), world.subscribe.delete("billing"),
                 world.subscribe.update(spec())):
        with pytest.raises(SubscriptionNotFound):
            await call


async def succeed(world: World, result: bytes | None = None) -> str:
    [job] = await world.take()
    await world.ack([], [AckItem(LeaseRef(job.id, job.lease_token), result)])
    return job.id


def deliveries(world: World):
    return [j for j in world.store.jobs.values() if j.queue == CALLBACK_QUEUE]


async def test_a_delivery_is_posted_signed_and_acked(world: World):
    await world.subscribe.create(spec())
    await world.add()
    job_id = await succeed(world, b"42")
    assert await world.deliverer.run_once() == 1
    await world.deliverer.drain()
    [(url, body, headers)] = world.sender.posts
    assert url == "https://hooks.example.com/broker" and headers["content-type"] == "application/json"
    sent = json.loads(body)
    assert sent["data"]["job_id"] == job_id and sent["data"]["result"] == base64.b64encode(b"42").decode()
    [delivery] = deliveries(world)
    assert headers["webhook-id"] == delivery.id and headers["webhook-timestamp"] == str(int(world.clock.now().timestamp()))
    assert delivery.state is JobState.SUCCEEDED and delivery.result == b"HTTP 200"


async def test_a_receiver_failing_n_times_gets_one_successful_delivery_after_n_retries(world: World):
    await world.subscribe.create(spec())
    await world.add()
    await succeed(world)
    world.sender.replies = [Reply(500, "down"), Reply(None, "timed out after 10s"), Reply(503, "busy")]
    for expected in ("HTTP 500: down", "timed out after 10s", "HTTP 503: busy"):
        assert await world.deliverer.run_once() == 1
        await world.deliverer.drain()
        [delivery] = deliveries(world)
        assert delivery.state is JobState.PENDING and delivery.last_error == expected
        assert await world.deliverer.run_once() == 0  # waiting out its backoff
        world.clock.set(delivery.run_at)
    assert await world.deliverer.run_once() == 1
    await world.deliverer.drain()
    [delivery] = deliveries(world)
    assert (delivery.state, delivery.attempt, len(world.sender.posts)) == (JobState.SUCCEEDED, 4, 4)
    assert len({h["webhook-id"] for _, _, h in world.sender.posts}) == 1


async def test_a_refused_target_or_a_deleted_subscription_fails_for_good(world: World):
    await world.subscribe.create(spec())
    await world.add(count=2)
    await succeed(world)
    world.sender.replies = [Reply(None, "refused: x is 127.0.0.1", refused=True)]
    await world.deliverer.run_once()
    await world.deliverer.drain()
    [first] = deliveries(world)
    assert (first.state, first.attempt, first.last_error) == (JobState.DEAD, 1, "refused: x is 127.0.0.1")
    await succeed(world)
    await world.subscribe.delete("billing")
    await world.deliverer.run_once()
    await world.deliverer.drain()
    second = next(d for d in deliveries(world) if d.id != first.id)
    assert second.state is JobState.DEAD and "no longer exists" in second.last_error
    assert len(world.sender.posts) == 1


async def test_at_most_concurrency_deliveries_are_under_way():
    world = World(callbacks=DeliveryPolicy(concurrency=2))
    await world.subscribe.create(spec())
    await world.add(count=3)
    for _ in range(3):
        await succeed(world)
    assert await world.deliverer.run_once() == 2
    assert await world.deliverer.run_once() == 0  # both slots taken
    await world.deliverer.drain()
    assert await world.deliverer.run_once() == 1
    await world.deliverer.drain()
    assert all(d.state is JobState.SUCCEEDED for d in deliveries(world))


def test_the_settings_and_a_bad_one_stops_start_up_naming_it():
    from broker.infra.env import SettingsError
    from broker.infra.settings import load

    policy = load({}).callbacks
    assert (policy.timeout, policy.allow_private, policy.concurrency, policy.max_attempts, policy.deliver) == (
        10.0, False, 16, 12, True)
    read = load({"BROKER_CALLBACK_TIMEOUT": "2.5", "BROKER_CALLBACK_ALLOW_PRIVATE": "true",
                 "BROKER_CALLBACK_RETRY_INITIAL": "0.5", "BROKER_CALLBACK_RETRY_MAX": "30"}).callbacks
    assert (read.timeout, read.allow_private, read.retry.initial_delay, read.retry.max_delay) == (2.5, True, 0.5, 30.0)
    for env in ({"BROKER_CALLBACK_TIMEOUT": "0"}, {"BROKER_CALLBACK_CONCURRENCY": "0"},
                {"BROKER_CALLBACK_MAX_ATTEMPTS": "0"}, {"BROKER_CALLBACK_ALLOW_PRIVATE": "maybe"},
                {"BROKER_CALLBACK_RETRY_INITIAL": "10", "BROKER_CALLBACK_RETRY_MAX": "5"}):
        with pytest.raises(SettingsError) as bad:
            load(env)
        assert list(env)[-1] in str(bad.value)


async def test_closing_lets_deliveries_finish_within_the_grace_then_cuts_the_rest():
    import asyncio

    release = asyncio.Event()

    class Slow:
        async def post(self, url, body, headers, timeout):
            await release.wait()
            return Reply(200, "ok")

    world = World(sender=Slow())
    await world.subscribe.create(spec())
    await world.add()
    await succeed(world)
    assert await world.deliverer.run_once() == 1
    await world.deliverer.close(grace=0.01)  # the receiver never answers: cut
    [delivery] = deliveries(world)
    assert delivery.state is JobState.RUNNING  # its lease lapses; the reaper retries it
