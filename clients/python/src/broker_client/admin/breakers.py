"""A queue's circuit breaker for the admin clients: the Breaker record and the request that
changes it."""

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
