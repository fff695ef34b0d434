"""Queue controls: wire <-> entity."""

from __future__ import annotations

from broker.entities.queue_state import ControlsChange, QueueControls
from broker.interface.grpc import breaker_mapping, mapping, retry_mapping
from broker.v1 import admin_service_pb2 as pb


_FIELDS = ("paused", "concurrency_limit", "per_key_concurrency", "rate_limit", "rate_burst")


def change_from_wire(request: pb.UpdateQueueRequest) -> ControlsChange:
    """Each control the request sets; an unset one stays as it is."""
    return ControlsChange(**{f: getattr(request, f) if request.HasField(f) else None for f in _FIELDS})


def controls_to_wire(c: QueueControls, out: pb.QueueControls) -> pb.QueueControls:
    out.queue, out.paused, out.concurrency_limit = c.name, c.paused, c.concurrency_limit or 0
    out.per_key_concurrency, out.rate_limit = c.per_key_concurrency or 0, c.rate_limit or 0.0
    out.rate_burst = c.rate_burst or 0
    mapping.set_time(out.updated_at, c.updated_at)
    if c.breaker is not None:
        breaker_mapping.breaker_to_wire(c.breaker, out.breaker)
    if c.retry is not None:
        retry_mapping.retry_to_wire(c.retry, out.retry)
    return out


def response(c: QueueControls, kind=pb.GetQueueResponse):
    out = kind()
    controls_to_wire(c, out.queue)
    return out
