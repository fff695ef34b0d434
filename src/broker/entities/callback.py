"""Outbound callbacks: the events a subscription may ask for, which move of a job makes which
event, a subscription and the rules of its fields, and a delivery's body and signature.

A delivery is a job on the broker's own queue CALLBACK_QUEUE (kind: the event's name, payload:
the body, header `subscription`), made in the same transaction as the move it tells of, then
retried, dead-lettered and redriven like any job."""

from __future__ import annotations

import base64
import enum
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState, Reason
from broker.entities.queue import INTERNAL_PREFIX
from broker.entities.retry import RetryPolicy
from broker.entities.webhook.schemes import StandardWebhooks

CALLBACK_QUEUE = INTERNAL_PREFIX + "callbacks"
SUBSCRIPTION_HEADER = "subscription"  # the delivery job's header naming its subscription
MAX_URL_LENGTH = 2048
MAX_SECRETS = 2  # the new and the old one while a secret rotates
MAX_KIND_LENGTH = 256


class CallbackEvent(enum.Enum):
    """What a subscription may ask to hear of: the moves of jobs (EVENT_OF), and a queue's
    circuit breaker opening (infra/pg/breaker_callbacks.py)."""

    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"        # an attempt failed and the job will be retried
    JOB_DEAD = "job.dead"            # dead-lettered (out of attempts, or failed for good)
    JOB_CANCELLED = "job.cancelled"
    QUEUE_BREAKER_OPENED = "queue.breaker_opened"  # forced open, or opened by the failure rate


# The moves that make an event: (what caused it, the state it led to) -> event. Both stores read
# it (infra/pg/callbacks_sql.py renders it into the statements). A failed attempt makes one
# event: job.failed when it is retried, job.dead when it is the last.
EVENT_OF: dict[tuple[Reason, JobState], CallbackEvent] = {
    (Reason.ACK, JobState.SUCCEEDED): CallbackEvent.JOB_SUCCEEDED,
    (Reason.NACK, JobState.PENDING): CallbackEvent.JOB_FAILED,
    (Reason.EXPIRE, JobState.PENDING): CallbackEvent.JOB_FAILED,
    (Reason.NACK, JobState.DEAD): CallbackEvent.JOB_DEAD,
    (Reason.EXPIRE, JobState.DEAD): CallbackEvent.JOB_DEAD,
    (Reason.CANCEL, JobState.CANCELLED): CallbackEvent.JOB_CANCELLED,
}


def is_internal(queue: str) -> bool:
    return queue.startswith(INTERNAL_PREFIX)


def event_of(reason: Reason, to_state: JobState, queue: str) -> CallbackEvent | None:
    """The event a move makes; None for moves no subscription hears of and for the broker's own
    queues (a delivery's own failure makes no delivery)."""
    return None if is_internal(queue) else EVENT_OF.get((reason, to_state))


@dataclass(frozen=True, slots=True)
class Subscription:
    """Where the events go: `url`, for the `events` named, of jobs of `queue` and `kind` (None:
    any), signed with each of `secrets` (Standard Webhooks `whsec_` secrets, newest first)."""

    name: str
    url: str
    events: tuple[CallbackEvent, ...]
    secrets: tuple[str, ...]
    queue: str | None = None
    kind: str | None = None
    max_attempts: int = 12
    retry: RetryPolicy = RetryPolicy(initial_delay=5.0, max_delay=3600.0)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def wants(self, event: CallbackEvent, queue: str, kind: str | None) -> bool:
        """`kind` None: a queue's event, which the kind filter (for job events) lets through."""
        return (event in self.events and (self.queue is None or self.queue == queue)
                and (self.kind is None or kind is None or self.kind == kind))


def check_url(url: str, allow_private: bool, field: str = "url") -> str:
    """An absolute http(s) URL with a host; a literal private, loopback or link-local address is
    refused unless `allow_private` (names are checked again when a delivery resolves them)."""
    if not url:
        raise InvalidArgument(field, "must not be empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidArgument(field, f"is {len(url)} characters; at most {MAX_URL_LENGTH}")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidArgument(field, f"not a URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidArgument(field, f"{url[:80]!r} is not an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise InvalidArgument(field, "must not carry a user name or password")
    if any(c.isspace() or ord(c) < 32 for c in url):
        raise InvalidArgument(field, "must not contain spaces or control characters")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url
    if not allow_private and not is_public(address):
        raise InvalidArgument(field, f"{host} is a private, loopback or link-local address "
                                     "(BROKER_CALLBACK_ALLOW_PRIVATE allows it)")
    return url


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a delivery may go to this address without BROKER_CALLBACK_ALLOW_PRIVATE."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    # is_global is False for private, loopback, link-local, shared (100.64/10), documentation and
    # reserved ranges alike (the IANA special-purpose registries).
    return address.is_global and not address.is_multicast


def check_events(names: Sequence[str], field: str = "events") -> tuple[CallbackEvent, ...]:
    if not names:
        raise InvalidArgument(field, f"name at least one of {', '.join(e.value for e in CallbackEvent)}")
    known = {e.value: e for e in CallbackEvent}
    for i, name in enumerate(names):
        if name not in known:
            raise InvalidArgument(f"{field}[{i}]", f"{name[:60]!r} is not an event; known: "
                                                   f"{', '.join(known)}")
    return tuple(known[n] for n in dict.fromkeys(names))


def check_secrets(secrets: Sequence[str], field: str = "secrets") -> tuple[str, ...]:
    """One or two Standard Webhooks secrets (`whsec_` and base64)."""
    if not secrets:
        raise InvalidArgument(field, "give one secret (two while rotating): whsec_ and base64")
    if len(secrets) > MAX_SECRETS:
        raise InvalidArgument(field, f"{len(secrets)} secrets; at most {MAX_SECRETS} (the new and the old)")
    for i, secret in enumerate(secrets):
        try:
            StandardWebhooks().key(secret)
        except ValueError as exc:
            raise InvalidArgument(f"{field}[{i}]", f"{exc}; expected whsec_ and base64") from None
    return tuple(secrets)


def check_kind(kind: str | None) -> str | None:
    if kind and len(kind) > MAX_KIND_LENGTH:
        raise InvalidArgument("kind", f"is {len(kind)} characters; at most {MAX_KIND_LENGTH}")
    if kind and "\x00" in kind:
        raise InvalidArgument("kind", "must not contain NUL characters")
    return kind or None


def timestamp(at: datetime) -> str:
    """A delivery body's time: RFC 3339 in UTC, to the microsecond."""
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def body(event: CallbackEvent, at: datetime, job_id: str, queue: str, kind: str, state: JobState,
         attempt: int, result: bytes | None, error: str | None) -> dict:
    """A delivery's body (Standard Webhooks: type, timestamp, data); the result in base64."""
    return {"type": event.value, "timestamp": timestamp(at), "data": {
        "job_id": job_id, "queue": queue, "kind": kind, "state": state.value, "attempt": attempt,
        "result": base64.b64encode(result).decode() if result is not None else None, "error": error}}


def breaker_body(queue: str, from_state: str, reason: str, forced: bool, at: datetime) -> dict:
    """The body of `queue.breaker_opened` (infra/pg/breaker_callbacks.py renders the same in SQL;
    tests/contract/test_callbacks.py holds the two together)."""
    return {"type": CallbackEvent.QUEUE_BREAKER_OPENED.value, "timestamp": timestamp(at), "data": {
        "queue": queue, "from": from_state, "to": "open", "reason": reason, "forced": forced}}


def sign(secrets: Sequence[str], delivery_id: str, at: int, payload: bytes) -> Mapping[str, str]:
    """The Standard Webhooks headers of one attempt: one `v1,` signature per secret, so receivers
    that know either secret verify it while the secret rotates."""
    scheme = StandardWebhooks()
    signatures = [scheme.sign(scheme.key(s), payload, delivery_id, at)["webhook-signature"] for s in secrets]
    return {"webhook-id": delivery_id, "webhook-timestamp": str(at), "webhook-signature": " ".join(signatures)}
