"""ReceiveWebhook, wired by the broker's build step to the in-memory store and a clock that
moves when told: the order of the checks, one job per delivery id, nothing stored on refusal,
every outcome reported to the webhook log (without the body)."""

from __future__ import annotations

import base64
import random

import pytest

from broker.app.build import build
from broker.entities.queue import Limits
from broker.entities.webhook import (SCHEMES, BadSignature, BodyTooLarge, DeliveryId, MalformedDelivery,
                                     StaleDelivery, UnknownSource, WebhookSource)
from broker.infra.settings import ObserveSettings, Settings
from broker.infra.webhook_settings import WebhookSettings
from broker.usecases.receive_webhook import UNKNOWN, Delivery
from tests.fakes import InMemoryJobStore, ManualClock, RecordingNotifier

SECRET = "whsec_" + base64.b64encode(b"unit test secret").decode()
BODY = b'{"type": "invoice.paid"}'
standard = SCHEMES["standard"]
KEY = standard.key(SECRET)


class RecordingLog:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def received(self, source, outcome, detail="", job_id=None):
        self.seen.append((source, outcome, detail))


class Hooks:
    def __init__(self, max_body: int = 1024) -> None:
        self.clock, self.store, self.log = ManualClock(), InMemoryJobStore(), RecordingLog()
        source = WebhookSource("billing", standard, (KEY,), "invoices", "invoice.event",
                               DeliveryId("header", "webhook-id"), ("content-type", "x-event"))
        settings = Settings(webhooks=WebhookSettings(max_body=max_body, sources={"billing": source}),
                            observe=ObserveSettings(stats_cache=0))
        use = build(settings, store=self.store, clock=self.clock, notifier=RecordingNotifier(self.clock),
                    page_secret=b"unit tests page secret", rng=random.Random(1), webhook_log=self.log)
        self.receive = use.webhooks
        self.reads: list[int] = []

    def now(self) -> int:
        return int(self.clock.now().timestamp())

    def signed(self, body: bytes = BODY, msg_id: str = "msg_1", at: int | None = None, **extra) -> dict:
        return {**standard.sign(KEY, body, msg_id, self.now() if at is None else at), **extra}

    async def post(self, headers: dict, body: bytes = BODY, source: str = "billing"):
        async def read(limit: int) -> bytes:
            self.reads.append(limit)
            if len(body) > limit:
                raise BodyTooLarge(limit)
            return body
        return await self.receive(Delivery(source, headers), read)


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


async def test_a_verified_delivery_becomes_one_job_with_the_raw_body(hooks):
    accepted = await hooks.post(hooks.signed(**{"content-type": "application/json", "x-event": "paid",
                                                "x-other": "dropped"}))
    assert accepted.created
    job = await hooks.store.get(accepted.job_id)
    assert (job.queue, job.kind, job.payload) == ("invoices", "invoice.event", BODY)
    assert job.idempotency_key == "webhook:billing:msg_1"
    assert job.headers == {"content-type": "application/json", "x-event": "paid",
                           "webhook-source": "billing", "webhook-delivery-id": "msg_1"}
    assert hooks.log.seen == [("billing", "created", "")]


async def test_a_repeated_delivery_id_creates_no_second_job(hooks):
    first = await hooks.post(hooks.signed())
    hooks.clock.advance(60)  # a provider's retry, signed afresh
    again = await hooks.post(hooks.signed())
    assert (again.job_id, again.created) == (first.job_id, False)
    assert [o for _, o, _ in hooks.log.seen] == ["created", "duplicate"]


@pytest.mark.parametrize("case, error, outcome", [
    ("tampered", BadSignature, "bad_signature"),
    ("wrong secret", BadSignature, "bad_signature"),
    ("stale", StaleDelivery, "stale"),
    ("future", StaleDelivery, "stale"),
    ("no signature", MalformedDelivery, "malformed"),
])
async def test_refused_deliveries_store_nothing_and_are_reported(hooks, case, error, outcome):
    headers = {
        "tampered": lambda: hooks.signed(body=b"{}"),
        "wrong secret": lambda: standard.sign(b"another key", BODY, "m", hooks.now()),
        "stale": lambda: hooks.signed(at=hooks.now() - 301),
        "future": lambda: hooks.signed(at=hooks.now() + 301),
        "no signature": lambda: {k: v for k, v in hooks.signed().items() if k != "webhook-signature"},
    }[case]()
    with pytest.raises(error):
        await hooks.post(headers)
    assert hooks.store.jobs == {} and hooks.store.events == []
    [(source, seen, detail)] = hooks.log.seen
    assert (source, seen) == ("billing", outcome) and "invoice" not in detail


async def test_the_tolerance_is_inclusive_and_moves_with_the_clock(hooks):
    headers = hooks.signed(at=hooks.now() - 300)
    assert (await hooks.post(headers)).created
    hooks.clock.advance(1)
    with pytest.raises(StaleDelivery):
        await hooks.post(hooks.signed(msg_id="msg_2", at=hooks.now() - 301))


async def test_an_unknown_source_is_refused_before_the_body_is_read(hooks):
    with pytest.raises(UnknownSource):
        await hooks.post(hooks.signed(), source="nobody")
    assert hooks.reads == []
    assert hooks.log.seen == [(UNKNOWN, "unknown_source", "no webhook source has this name")]


async def test_a_body_over_the_cap_is_refused_before_it_is_verified():
    hooks = Hooks(max_body=10)
    with pytest.raises(BodyTooLarge):
        await hooks.post(hooks.signed())
    assert hooks.reads == [10]
    assert [o for _, o, _ in hooks.log.seen] == ["too_large"]


async def test_a_kept_header_that_cannot_be_stored_is_malformed(hooks):
    with pytest.raises(MalformedDelivery, match="x-event"):
        await hooks.post(hooks.signed(**{"x-event": "bad\udcff"}))


async def test_the_key_limit_is_respected_by_hashing_long_ids():
    hooks = Hooks()
    accepted = await hooks.post(hooks.signed(msg_id="m" * 400))
    key = (await hooks.store.get(accepted.job_id)).idempotency_key
    assert key.startswith("webhook:billing:sha256:") and len(key) <= Limits().max_key_length
