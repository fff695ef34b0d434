"""A queue's run-time default retry policy: wire <-> entity."""

from __future__ import annotations

from broker.entities.errors import InvalidArgument
from broker.entities.queue_retry import RetryChange, RetryDefaults
from broker.interface.grpc.mapping import JITTER_FROM_WIRE, JITTER_TO_WIRE
from broker.v1 import admin_service_pb2 as pb

_FIELDS = (("max_attempts", "max_attempts"), ("initial_delay_seconds", "initial_delay"),
           ("max_delay_seconds", "max_delay"), ("multiplier", "multiplier"))


def change_from_wire(request: pb.UpdateQueueRequest) -> RetryChange:
    if not request.HasField("retry"):
        return RetryChange(reset=request.reset_retry)
    given = request.retry
    jitter = given.jitter
    if jitter and jitter not in JITTER_FROM_WIRE:
        raise InvalidArgument("retry.jitter", f"{jitter} is not a Jitter value")
    values = {ours: getattr(given, wire) for wire, ours in _FIELDS if given.HasField(wire)}
    return RetryChange(**values, jitter=JITTER_FROM_WIRE.get(jitter), reset=request.reset_retry)


def retry_to_wire(r: RetryDefaults, out: pb.QueueRetry) -> None:
    for wire, ours in _FIELDS:
        if getattr(r, ours) is not None:
            setattr(out, wire, getattr(r, ours))
    if r.jitter is not None:
        out.jitter = JITTER_TO_WIRE[r.jitter]
    out.SetInParent()
