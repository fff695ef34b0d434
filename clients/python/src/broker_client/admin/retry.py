"""A queue's run-time default retry policy for the admin clients: the QueueRetry record and the
request that changes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..v1 import admin_service_pb2 as pb


@dataclass(frozen=True)
class QueueRetry:
    """A queue's default retry policy set at run time; None fields follow the broker's settings.
    ``jitter``: ``none``, ``full`` or ``equal``."""

    max_attempts: int | None = None
    initial_delay_seconds: float | None = None
    max_delay_seconds: float | None = None
    multiplier: float | None = None
    jitter: str | None = None


RETRY_FIELDS = ("max_attempts", "initial_delay_seconds", "max_delay_seconds", "multiplier")
_JITTER = {"none": 1, "full": 2, "equal": 3}


def retry(msg: pb.QueueRetry) -> QueueRetry:
    values = {k: getattr(msg, k) if msg.HasField(k) else None for k in RETRY_FIELDS}
    jitter = {v: k for k, v in _JITTER.items()}.get(msg.jitter)
    return QueueRetry(**values, jitter=jitter)


def retry_request(queue: str, reset: bool, jitter: str | None, settings: dict[str, Any]) -> pb.UpdateQueueRequest:
    """``settings``: the RETRY_FIELDS to change (None values are left out)."""
    request = pb.UpdateQueueRequest(queue=queue, reset_retry=reset)
    if jitter is not None and jitter not in _JITTER:
        raise ValueError(f"jitter must be one of {', '.join(_JITTER)}, not {jitter!r}")
    given = {k: v for k, v in settings.items() if v is not None}
    if given or jitter is not None:
        request.retry.CopyFrom(pb.QueueRetry(**given, jitter=_JITTER.get(jitter, 0)))
    return request
