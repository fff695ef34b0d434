"""Inbound webhook sources for the admin clients: the WebhookSource record and the spec a create
or update sends (sync and asyncio alike)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone

from ..v1 import webhook_source_pb2 as pb


@dataclass(frozen=True)
class WebhookSource:
    """A sender whose verified deliveries to ``POST /webhooks/{name}`` become jobs of ``queue``
    and ``kind``. ``scheme``: standard, github or stripe; ``delivery_id``: header:<name> or
    json:<field>; ``declared``: from the broker's sources file (changed there only). The
    secrets are never returned: ``secret_count``."""

    name: str
    scheme: str
    queue: str
    kind: str
    delivery_id: str
    headers: tuple[str, ...]
    secret_count: int
    declared: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None


def spec(name: str, scheme: str, queue: str, kind: str, secrets: Iterable[str], delivery_id: str | None,
         headers: Iterable[str]) -> pb.WebhookSourceSpec:
    return pb.WebhookSourceSpec(name=name, scheme=scheme, queue=queue, kind=kind, secrets=list(secrets),
                                delivery_id=delivery_id or "", headers=list(headers))


def source(msg: pb.WebhookSource) -> WebhookSource:
    s = msg.spec

    def at(field: str) -> datetime | None:
        return getattr(msg, field).ToDatetime(tzinfo=timezone.utc) if msg.HasField(field) else None

    return WebhookSource(s.name, s.scheme, s.queue, s.kind, s.delivery_id, tuple(s.headers), msg.secret_count,
                         msg.declared, at("created_at"), at("updated_at"))
