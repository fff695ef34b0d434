"""Queue controls for the admin clients: the QueueControls record and the update request
(sync and asyncio alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from ..v1 import admin_service_pb2 as pb
from .breakers import Breaker, breaker
from .retry import QueueRetry, retry


@dataclass(frozen=True)
class QueueControls:
    """A queue's controls as every broker replica obeys them. ``paused``: Lease hands out
    nothing of it (running jobs finish, Enqueue works). ``concurrency_limit``: at most this
    many RUNNING jobs across all workers and replicas; None without a limit. ``updated_at``:
    the last change; None for a queue nobody configured. ``per_key_concurrency``: at most this
    many RUNNING jobs per concurrency key. ``rate_limit``: jobs leased per second, in bursts of
    at most ``rate_burst``, shared by every replica. None: no such control."""

    queue: str
    paused: bool = False
    concurrency_limit: int | None = None
    updated_at: datetime | None = None
    per_key_concurrency: int | None = None
    rate_limit: float | None = None
    rate_burst: int | None = None
    breaker: Breaker | None = None  # None: the queue has none
    retry: QueueRetry | None = None  # None: the broker's settings' policy


def controls(msg: pb.QueueControls) -> QueueControls:
    at = msg.updated_at.ToDatetime(tzinfo=timezone.utc) if msg.HasField("updated_at") else None
    return QueueControls(msg.queue, msg.paused, msg.concurrency_limit or None, at,
                         msg.per_key_concurrency or None, msg.rate_limit or None, msg.rate_burst or None,
                         breaker(msg.breaker) if msg.HasField("breaker") else None,
                         retry(msg.retry) if msg.HasField("retry") else None)


CONTROLS = ("paused", "concurrency_limit", "per_key_concurrency", "rate_limit", "rate_burst")


def update_request(queue: str, **changes) -> pb.UpdateQueueRequest:
    """Each of CONTROLS given and not None is set; 0 removes a limit or the rate. The broker
    checks the values, naming the field."""
    request = pb.UpdateQueueRequest(queue=queue)
    for name in CONTROLS:
        if changes.get(name) is not None:
            setattr(request, name, changes[name])
    return request
