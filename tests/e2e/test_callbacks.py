"""Outbound callbacks end to end, over real HTTP on loopback: subscriptions through AdminService,
deliveries signed per Standard Webhooks and verified by the reference library, a receiver that
fails N times then gets exactly one successful delivery, dead letters and their redrive, secret
rotation, bad input, and the guard that refuses loopback targets without the allow setting."""

from __future__ import annotations

import asyncio
import base64
import uuid

import grpc
import pytest

from broker.v1 import admin_service_pb2 as apb, admin_service_pb2_grpc, callback_pb2 as cpb
from broker.v1 import job_pb2, job_service_pb2 as jpb, job_service_pb2_grpc
from tests.brokers import fresh_database, running_broker
from tests.callback_receiver import NEXT_SECRET, SECRET, receiving
from tests.e2e.helpers import duration, enqueue, lease, nack, ref
from tests.e2e.observe import scrape

CALLBACKS = "_broker.callbacks"
FAST = {"BROKER_CALLBACK_RETRY_INITIAL": "0.05", "BROKER_CALLBACK_RETRY_MAX": "0.2",
        "BROKER_CALLBACK_TIMEOUT": "2", "BROKER_LONG_POLL_RECHECK": "0.1"}


@pytest.fixture(scope="module")
async def hub(database_url):
    """A broker that may call loopback receivers, its stubs, and a receiver."""
    async with fresh_database(database_url) as url, \
            running_broker(url, BROKER_CALLBACK_ALLOW_PRIVATE="true", **FAST) as broker, receiving() as receiver:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            receiver.broker = broker  # its HTTP port, for /metrics
            yield (job_service_pb2_grpc.JobServiceStub(channel), admin_service_pb2_grpc.AdminServiceStub(channel),
                   receiver, broker.grpc_address)


def spec(name: str, url: str, queue: str, events=("job.succeeded",), secrets=(SECRET,), **fields):
    return cpb.SubscriptionSpec(name=name, url=url, events=list(events), queue=queue, secrets=list(secrets), **fields)


async def subscribe(admin, receiver, queue: str, **fields) -> str:
    path = f"p-{uuid.uuid4().hex[:8]}"
    await admin.CreateSubscription(cpb.CreateSubscriptionRequest(
        subscription=spec(path, receiver.url(path), queue, **fields)))
    return path


async def succeed(jobs, queue: str, result: bytes = b"") -> str:
    (job_id,) = await enqueue(jobs, queue)
    (leased,) = await lease(jobs, queue)
    await jobs.Ack(jpb.AckRequest(items=[jpb.AckItem(lease=ref(leased), result=result)]))
    return job_id


async def delivery_of(admin, job_id: str, state=None, timeout: float = 30.0):
    """The delivery job telling of `job_id` (once it is in `state`, when given)."""
    async with asyncio.timeout(timeout):
        while True:
            listed = await admin.ListJobs(apb.ListJobsRequest(queue=CALLBACKS, page_size=500))
            for job in listed.jobs:
                if job_id.encode() in job.payload and (state is None or job.state == state):
                    return job
            await asyncio.sleep(0.05)


async def attempts_counted(http_port: int, subscription: str, want_delivered: float = 1.0) -> dict:
    """broker_callback_deliveries_total of a subscription, once it counts the delivery (the
    counter moves just after the ack commits)."""
    async with asyncio.timeout(10):
        while True:
            _, samples = await scrape(http_port)
            counted = {o: samples.get_value("broker_callback_deliveries_total", None, subscription=subscription,
                                            outcome=o) for o in ("failed", "delivered")}
            if counted["delivered"] == want_delivered:
                return counted
            await asyncio.sleep(0.05)


async def test_a_succeeded_job_is_delivered_signed_and_carries_its_result(hub, queue):
    jobs, admin, receiver, _ = hub
    path = await subscribe(admin, receiver, queue)
    job_id = await succeed(jobs, queue, b"\x01result")
    [got] = await receiver.wait_for(path, 1)
    assert got.verified[SECRET] and not got.verified[NEXT_SECRET]
    assert got.json["type"] == "job.succeeded"
    assert got.json["data"] == {"job_id": job_id, "queue": queue, "kind": "work", "state": "succeeded",
                                "attempt": 1, "result": base64.b64encode(b"\x01result").decode(), "error": None}
    delivery = await delivery_of(admin, job_id, job_pb2.JOB_STATE_SUCCEEDED)
    assert got.headers["webhook-id"] == delivery.id and delivery.kind == "job.succeeded"


async def test_a_receiver_failing_n_times_gets_exactly_one_successful_delivery(hub, queue):
    jobs, admin, receiver, _ = hub
    path = await subscribe(admin, receiver, queue)
    receiver.fail[path] = 3
    job_id = await succeed(jobs, queue)
    delivery = await delivery_of(admin, job_id, job_pb2.JOB_STATE_SUCCEEDED)
    got = receiver.of(path)
    assert [r.status for r in got] == [500, 500, 500, 200]
    assert {r.headers["webhook-id"] for r in got} == {delivery.id} and all(r.verified[SECRET] for r in got)
    full = await admin.GetJob(apb.GetJobRequest(job_id=delivery.id))
    assert full.job.attempt == 4 and [e.error for e in full.job.errors] == ["HTTP 500: no thanks"] * 3
    assert bytes(full.job.result) == b"HTTP 200"
    assert await attempts_counted(receiver.broker.http_port, path) == {"failed": 3.0, "delivered": 1.0}


async def test_failed_attempts_and_dead_letters_are_told_with_their_error(hub, queue):
    jobs, admin, receiver, _ = hub
    path = await subscribe(admin, receiver, queue, events=("job.failed", "job.dead"))
    (job_id,) = await enqueue(jobs, queue, max_attempts=2)
    (leased,) = await lease(jobs, queue)
    await nack(jobs, leased, "first", retry_after=duration(0))
    (leased,) = await lease(jobs, queue)
    await nack(jobs, leased, "second")
    got = await receiver.wait_for(path, 2)
    told = sorted((r.json["type"], r.json["data"]["error"], r.json["data"]["attempt"]) for r in got)
    assert told == [("job.dead", "second", 2), ("job.failed", "first", 1)]


async def test_a_delivery_out_of_attempts_is_dead_and_a_redrive_delivers_it(hub, queue):
    jobs, admin, receiver, _ = hub
    path = await subscribe(admin, receiver, queue, max_attempts=2)
    receiver.fail[path] = 2
    job_id = await succeed(jobs, queue)
    dead = await delivery_of(admin, job_id, job_pb2.JOB_STATE_DEAD)
    assert [e.error for e in dead.errors] == ["HTTP 500: no thanks"] * 2
    await admin.RedriveJobs(apb.RedriveJobsRequest(job_ids=[dead.id]))
    await delivery_of(admin, job_id, job_pb2.JOB_STATE_SUCCEEDED)
    assert [r.status for r in receiver.of(path)] == [500, 500, 200]


async def test_two_secrets_sign_each_delivery_while_a_secret_rotates(hub, queue):
    jobs, admin, receiver, _ = hub
    path = await subscribe(admin, receiver, queue)
    rotated = await admin.UpdateSubscription(cpb.UpdateSubscriptionRequest(
        subscription=spec(path, receiver.url(path), queue, secrets=(NEXT_SECRET, SECRET))))
    assert rotated.subscription.secret_count == 2 and not rotated.subscription.spec.secrets
    await succeed(jobs, queue)
    [got] = await receiver.wait_for(path, 1)
    assert got.verified == {SECRET: True, NEXT_SECRET: True}
    assert len(got.headers["webhook-signature"].split()) == 2
    await admin.UpdateSubscription(cpb.UpdateSubscriptionRequest(
        subscription=spec(path, receiver.url(path), queue, secrets=(NEXT_SECRET,))))
    await succeed(jobs, queue)
    [_, later] = await receiver.wait_for(path, 2)
    assert later.verified == {SECRET: False, NEXT_SECRET: True}


async def test_a_slow_receiver_holds_back_no_job(hub, queue):
    jobs, admin, receiver, _ = hub
    path = await subscribe(admin, receiver, queue)
    receiver.hang.add(path)
    ids = [await succeed(jobs, queue) for _ in range(5)]
    await receiver.wait_for(path, 1)
    for job_id in ids:
        got = await admin.GetJob(apb.GetJobRequest(job_id=job_id))
        assert got.job.state == job_pb2.JOB_STATE_SUCCEEDED
    await admin.DeleteSubscription(cpb.DeleteSubscriptionRequest(name=path))


async def test_subscriptions_are_listed_got_updated_and_deleted(hub, queue):
    jobs, admin, receiver, _ = hub
    path = await subscribe(admin, receiver, queue, kind="email")
    got = (await admin.GetSubscription(cpb.GetSubscriptionRequest(name=path))).subscription
    assert (got.spec.url, list(got.spec.events), got.spec.queue, got.spec.kind) == (
        receiver.url(path), ["job.succeeded"], queue, "email")
    assert got.secret_count == 1 and not got.spec.secrets and got.spec.max_attempts == 12
    listed = await admin.ListSubscriptions(cpb.ListSubscriptionsRequest())
    assert path in [s.spec.name for s in listed.subscriptions]
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await subscribe_named(admin, path, receiver.url(path), queue)
    assert taken.value.code() is grpc.StatusCode.ALREADY_EXISTS
    await admin.DeleteSubscription(cpb.DeleteSubscriptionRequest(name=path))
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await admin.GetSubscription(cpb.GetSubscriptionRequest(name=path))
    assert gone.value.code() is grpc.StatusCode.NOT_FOUND


async def subscribe_named(admin, name, url, queue, **fields):
    return await admin.CreateSubscription(cpb.CreateSubscriptionRequest(subscription=spec(name, url, queue, **fields)))


@pytest.mark.parametrize("fields, field", [
    ({"url": "ftp://example.com/x"}, "url"),
    ({"url": "not a url"}, "url"),
    ({"url": ""}, "url"),
    ({"events": ("job.exploded",)}, "events[0]"),
    ({"events": ()}, "events"),
    ({"secrets": ()}, "secrets"),
    ({"secrets": ("",)}, "secrets[0]"),
    ({"secrets": ("whsec_!!!",)}, "secrets[0]"),
    ({"secrets": (SECRET, SECRET, SECRET)}, "secrets"),
    ({"queue": "bad queue"}, "queue"),
    ({"max_attempts": -1}, "max_attempts"),
    ({"name": ""}, "name"),
])
async def test_bad_input_is_invalid_argument_naming_the_field_and_creates_nothing(hub, queue, fields, field):
    jobs, admin, receiver, _ = hub
    values = {"name": f"bad-{uuid.uuid4().hex[:8]}", "url": "https://example.com/hook", "queue": queue, **fields}
    name = values.pop("name")
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await subscribe_named(admin, name, values.pop("url"), values.pop("queue"), **values)
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad.value.details().startswith(field + ":"), bad.value.details()
    listed = await admin.ListSubscriptions(cpb.ListSubscriptionsRequest())
    assert name not in [s.spec.name for s in listed.subscriptions]


async def test_the_internal_queue_takes_no_enqueue_and_no_lease(hub):
    jobs, admin, receiver, _ = hub
    for call in (lambda: enqueue(jobs, CALLBACKS), lambda: lease(jobs, CALLBACKS)):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call()
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT


async def test_without_the_allow_setting_loopback_targets_are_refused(database_url, queue):
    async with fresh_database(database_url) as url, running_broker(url, **FAST) as broker, receiving() as receiver:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            jobs = job_service_pb2_grpc.JobServiceStub(channel)
            admin = admin_service_pb2_grpc.AdminServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as literal:
                await subscribe_named(admin, "literal", receiver.url("literal"), queue)
            assert literal.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert literal.value.details().startswith("url:")
            # A name is accepted, and refused at delivery for the address it resolves to.
            await subscribe_named(admin, "named", receiver.url("named", host="localhost"), queue)
            job_id = await succeed(jobs, queue)
            dead = await delivery_of(admin, job_id, job_pb2.JOB_STATE_DEAD)
            assert dead.attempt == 1 and "refused: localhost is" in dead.errors[0].error
            assert receiver.received == []


async def test_the_callbacks_commands(hub, queue, monkeypatch):
    from tests.e2e.test_cli_ops import broker_cli, rows

    jobs, admin, receiver, target = hub
    name = f"cli-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    monkeypatch.setenv("HOOK_SECRET_NEXT", NEXT_SECRET)
    code, out, err = await broker_cli("callbacks", "create", name, receiver.url(name), "--event", "job.succeeded",
                                      "--event", "job.dead", "--queue", queue, "--secret-env", "HOOK_SECRET",
                                      target=target)
    assert code == 0, err
    row = rows(out)[name]
    assert (row["EVENTS"], row["QUEUE"], row["KIND"], row["SECRETS"]) == ("job.succeeded,job.dead", queue, "*", "1")
    code, out, err = await broker_cli("callbacks", "update", name, receiver.url(name), "--event", "job.succeeded",
                                      "--queue", queue, "--secret-env", "HOOK_SECRET_NEXT",
                                      "--secret-env", "HOOK_SECRET", target=target)
    assert code == 0 and rows(out)[name]["SECRETS"] == "2", err
    code, out, _ = await broker_cli("callbacks", "list", target=target)
    assert rows(out)[name]["EVENTS"] == "job.succeeded"
    await succeed(jobs, queue)
    [got] = await receiver.wait_for(name, 1)
    assert got.verified == {SECRET: True, NEXT_SECRET: True}
    code, _, err = await broker_cli("callbacks", "create", name + "x", "ftp://x", "--event", "job.succeeded",
                                    "--secret-env", "HOOK_SECRET", target=target)
    assert code == 1 and "url" in err
    code, _, err = await broker_cli("callbacks", "create", name + "y", receiver.url(name), "--event", "job.dead",
                                    "--secret-env", "NO_SUCH_VARIABLE", target=target)
    assert code == 2 and "NO_SUCH_VARIABLE" in err
    code, out, _ = await broker_cli("callbacks", "delete", name, target=target)
    assert code == 0
    code, _, err = await broker_cli("callbacks", "show", name, target=target)
    assert code == 1 and "not found" in err


async def test_the_admin_clients_manage_subscriptions(hub, queue):
    from broker_client.admin import AdminClient, AsyncAdminClient

    jobs, admin, receiver, target = hub
    async with AsyncAdminClient(target) as client:
        made = await client.create_subscription("sdk-" + queue, receiver.url("sdk"), ["job.cancelled"],
                                                secrets=[SECRET], queue=queue, kind="work", max_attempts=3)
        assert (made.events, made.queue, made.kind, made.max_attempts, made.secret_count) == (
            ("job.cancelled",), queue, "work", 3, 1)
        assert made.created_at is not None
        changed = await client.update_subscription(made.name, made.url, ["job.dead"], queue=queue)
        assert changed.events == ("job.dead",) and changed.secret_count == 1 and changed.kind is None
        assert (await client.get_subscription(made.name)).events == ("job.dead",)
        assert made.name in [s.name for s in await client.list_subscriptions()]

    def blocking() -> list[str]:  # in a thread: the broker runs in this event loop
        with AdminClient(target) as client:
            assert client.get_subscription(made.name).max_attempts == 12  # the update replaced it: the default
            client.delete_subscription(made.name)
            return [s.name for s in client.list_subscriptions()]

    assert made.name not in await asyncio.to_thread(blocking)
