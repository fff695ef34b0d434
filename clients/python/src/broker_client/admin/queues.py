"""Queue controls for the admin clients: the QueueControls record and the update request
(sync and asyncio alike)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..v1 import admin_service_pb2 as pb


@dataclass(frozen=True)
class Breaker:
    """A queue's circuit breaker. ``state``: ``closed``, ``open`` or ``half_open``; ``forced``:
    held there by an operator; ``reason``: why it is in its state. The settings:
    ``window_seconds``, ``min_attempts``, ``failure_rate``, ``cool_down_seconds``, ``probes``."""

    state: str
    forced: bool
    reason: str
    window_seconds: float
    min_attempts: int
    failure_rate: float
    cool_down_seconds: float
    probes: int
    changed_at: datetime | None = None
    half_open_at: datetime | None = None  # an open breaker's end of cool-down
    probes_leased: int = 0
    probe_successes: int = 0


_STATES = {pb.BREAKER_STATE_CLOSED: "closed", pb.BREAKER_STATE_OPEN: "open", pb.BREAKER_STATE_HALF_OPEN: "half_open"}
_FORCE = {"open": pb.BREAKER_FORCE_OPEN, "closed": pb.BREAKER_FORCE_CLOSED, "auto": pb.BREAKER_FORCE_AUTO}
BREAKER_SETTINGS = ("window_seconds", "min_attempts", "failure_rate", "cool_down_seconds", "probes")


def _time(msg, name: str) -> datetime | None:
    return getattr(msg, name).ToDatetime(tzinfo=timezone.utc) if msg.HasField(name) else None


def breaker(msg: pb.Breaker) -> Breaker:
    s = msg.settings
    return Breaker(_STATES.get(msg.state, "closed"), msg.forced, msg.reason, s.window_seconds, s.min_attempts,
                   s.failure_rate, s.cool_down_seconds, s.probes, _time(msg, "changed_at"),
                   _time(msg, "half_open_at"), msg.probes_leased, msg.probe_successes)


def breaker_request(queue: str, force: str | None, remove: bool, settings: dict[str, Any]) -> pb.UpdateQueueRequest:
    """``force``: ``open``, ``closed`` or ``auto`` (None: unchanged); ``settings``: the
    BREAKER_SETTINGS to change (None values are left out)."""
    request = pb.UpdateQueueRequest(queue=queue, remove_breaker=remove)
    if force is not None:
        if force not in _FORCE:
            raise ValueError(f"force must be one of {', '.join(_FORCE)}, not {force!r}")
        request.force_breaker = _FORCE[force]
    given = {k: v for k, v in settings.items() if v is not None}
    if given:
        request.breaker.CopyFrom(pb.BreakerSettings(**given))
    return request


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
