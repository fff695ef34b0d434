"""Callback subscriptions for the admin clients: the Subscription record and the spec a create
or update sends (sync and asyncio alike)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..v1 import callback_pb2 as pb

EVENTS = ("job.succeeded", "job.failed", "job.dead", "job.cancelled")


@dataclass(frozen=True)
class Subscription:
    """Where the broker posts the events of jobs, signed per Standard Webhooks. ``events``:
    some of EVENTS; ``queue`` and ``kind``: the jobs it hears of (None: any); ``secret_count``:
    how many secrets sign each delivery (the secrets themselves are never returned)."""

    name: str
    url: str
    events: tuple[str, ...]
    queue: str | None
    kind: str | None
    max_attempts: int
    secret_count: int
    created_at: datetime | None = None
    updated_at: datetime | None = None


def spec(name: str, url: str, events: Iterable[str], secrets: Iterable[str], queue: str | None,
         kind: str | None, max_attempts: int) -> pb.SubscriptionSpec:
    return pb.SubscriptionSpec(name=name, url=url, events=list(events), secrets=list(secrets), queue=queue or "",
                               kind=kind or "", max_attempts=max_attempts)


def subscription(msg: pb.Subscription) -> Subscription:
    s = msg.spec

    def at(field: str) -> datetime | None:
        return getattr(msg, field).ToDatetime(tzinfo=timezone.utc) if msg.HasField(field) else None

    return Subscription(s.name, s.url, tuple(s.events), s.queue or None, s.kind or None, s.max_attempts,
                        msg.secret_count, at("created_at"), at("updated_at"))
