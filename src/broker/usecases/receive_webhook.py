"""ReceiveWebhook: an inbound webhook becomes a job, once per delivery id.

The order is the promise: the source is looked up, the body read under its cap, the signature
checked over the raw bytes, the timestamp checked against the tolerance, and only then is
anything of the body parsed (the delivery id, where it lives in the body) and the job enqueued
through the Enqueue interactor, whose validation and idempotency apply as to any producer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from broker.entities.errors import BrokerError, InvalidArgument, NotFound, Unauthenticated, Unavailable
from broker.entities.webhook import (BodyTooLarge, StaleDelivery, UnknownSource, WebhookSource,
                                     check_fresh, check_text, idempotency_key)
from broker.usecases.enqueue import Enqueue, JobSpec
from broker.usecases.ports import Clock
from broker.usecases.webhook_sources.define import source as source_of, valid_name
from broker.usecases.webhook_sources.ports import WebhookSourceStore

# Reads the request body, at most `limit` bytes; raises BodyTooLarge beyond it.
BodyReader = Callable[[int], Awaitable[bytes]]
UNKNOWN = "_unknown"  # the source label of deliveries to no configured source (never a source name)


class WebhookLog(Protocol):
    """Hears of every delivery's outcome (counted, and refusals logged). Never given the body."""

    def received(self, source: str, outcome: str, detail: str = "", job_id: str | None = None) -> None:
        """`outcome`: created, duplicate, unknown_source, too_large, malformed, stale,
        bad_signature, invalid (Enqueue refused it), unavailable or error."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One POST to /webhooks/{source}: headers with lower-case names, the first value of each."""

    source: str
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Accepted:
    job_id: str
    created: bool  # False: the delivery id was seen before; no second job


def _outcome(exc: BrokerError) -> str:
    if isinstance(exc, InvalidArgument) and exc.field.startswith("job."):
        return "invalid"  # Enqueue's own refusal (a kept header with a NUL character, say)
    for kind, name in ((NotFound, "unknown_source"), (BodyTooLarge, "too_large"), (StaleDelivery, "stale"),
                       (InvalidArgument, "malformed"), (Unauthenticated, "bad_signature"),
                       (Unavailable, "unavailable")):
        if isinstance(exc, kind):
            return name
    return "error"


class ReceiveWebhook:
    """Verifies a delivery and enqueues it with the delivery id as idempotency key."""

    def __init__(self, sources: Mapping[str, WebhookSource], enqueue: Enqueue, clock: Clock,
                 log: WebhookLog, *, tolerance: float, max_body: int, max_key_length: int,
                 stored: WebhookSourceStore | None = None) -> None:
        self._sources, self._enqueue, self._clock, self._log = dict(sources), enqueue, clock, log
        self._tolerance, self._max_body, self._max_key = tolerance, max_body, max_key_length
        self._stored = stored

    async def _source(self, name: str) -> WebhookSource | None:
        """The file's source of this name, else the stored one (a name no source can have is
        never looked up)."""
        found = self._sources.get(name)
        if found is None and self._stored is not None and valid_name(name):
            spec = await self._stored.get(name)
            found = spec and source_of(spec)
        return found

    async def __call__(self, delivery: Delivery, read_body: BodyReader) -> Accepted:
        label = UNKNOWN
        try:
            source = await self._source(delivery.source)
            label = source.name if source else UNKNOWN
            accepted = await self._receive(source, delivery, read_body)
        except BrokerError as exc:
            self._log.received(label, _outcome(exc), str(exc))
            raise
        self._log.received(label, "created" if accepted.created else "duplicate", job_id=accepted.job_id)
        return accepted

    async def _receive(self, source: WebhookSource | None, delivery: Delivery, read_body: BodyReader) -> Accepted:
        if source is None:
            raise UnknownSource()
        body = await read_body(self._max_body)
        if len(body) > self._max_body:  # a reader that ignored its limit
            raise BodyTooLarge(self._max_body)
        signed = source.scheme.verify(delivery.headers, body, source.keys)
        check_fresh(signed, self._clock.now().timestamp(), self._tolerance)
        delivery_id = check_text("delivery id", source.delivery_id.read(delivery.headers, body))
        headers = {name: check_text(name, delivery.headers[name])
                   for name in source.keep_headers if name in delivery.headers}
        headers.update({"webhook-source": source.name, "webhook-delivery-id": delivery_id[:256]})
        spec = JobSpec(queue=source.queue, kind=source.kind, payload=body, headers=headers,
                       idempotency_key=idempotency_key(source.name, delivery_id, self._max_key))
        [inserted] = await self._enqueue([spec], batch=False)
        return Accepted(inserted.job_id, inserted.created)
