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
    the last change; None for a queue nobody configured."""

    queue: str
    paused: bool = False
    concurrency_limit: int | None = None
    updated_at: datetime | None = None
    breaker: Breaker | None = None  # None: the queue has none
    retry: QueueRetry | None = None  # None: the broker's settings' policy


def controls(msg: pb.QueueControls) -> QueueControls:
    at = msg.updated_at.ToDatetime(tzinfo=timezone.utc) if msg.HasField("updated_at") else None
    return QueueControls(msg.queue, msg.paused, msg.concurrency_limit or None, at,
                         breaker(msg.breaker) if msg.HasField("breaker") else None,
                         retry(msg.retry) if msg.HasField("retry") else None)


def update_request(queue: str, paused: bool | None, concurrency_limit: int | None) -> pb.UpdateQueueRequest:
    """None leaves a control as it is; concurrency_limit 0 removes the limit. The broker checks
    the values, naming the field."""
    request = pb.UpdateQueueRequest(queue=queue)
    if paused is not None:
        request.paused = paused
    if concurrency_limit is not None:
        request.concurrency_limit = concurrency_limit
    return request
