"""Circuit breakers: wire <-> entity."""

from __future__ import annotations

from broker.entities.breaker import Breaker, BreakerState
from broker.entities.breaker_settings import BreakerChange, Force, SettingsChange
from broker.entities.errors import InvalidArgument
from broker.interface.grpc import mapping
from broker.v1 import admin_service_pb2 as pb

STATES = {BreakerState.CLOSED: pb.BREAKER_STATE_CLOSED, BreakerState.OPEN: pb.BREAKER_STATE_OPEN,
          BreakerState.HALF_OPEN: pb.BREAKER_STATE_HALF_OPEN}
STATE_NAMES = {s.value: wire for s, wire in STATES.items()}
_FORCE = {pb.BREAKER_FORCE_OPEN: Force.OPEN, pb.BREAKER_FORCE_CLOSED: Force.CLOSED, pb.BREAKER_FORCE_AUTO: Force.AUTO}
_SETTINGS = (("window_seconds", "window"), ("min_attempts", "min_attempts"), ("failure_rate", "failure_rate"),
             ("cool_down_seconds", "cool_down"), ("probes", "probes"))


def change_from_wire(request: pb.UpdateQueueRequest) -> BreakerChange:
    settings = None
    if request.HasField("breaker"):
        given = request.breaker
        settings = SettingsChange(**{ours: getattr(given, wire) for wire, ours in _SETTINGS if given.HasField(wire)})
    force = request.force_breaker
    if force and force not in _FORCE:
        raise InvalidArgument("force_breaker", f"{force} is not a BreakerForce value")
    return BreakerChange(settings=settings, force=_FORCE.get(force), remove=request.remove_breaker)


def breaker_to_wire(b: Breaker, out: pb.Breaker) -> None:
    for wire, ours in _SETTINGS:
        setattr(out.settings, wire, getattr(b.settings, ours))
    out.state, out.forced, out.reason = STATES[b.state], b.forced, b.reason
    mapping.set_time(out.changed_at, b.changed_at)
    mapping.set_time(out.half_open_at, b.half_open_at)
    out.window_attempts, out.window_failures = b.window.attempts, b.window.failures
    out.probes_leased, out.probe_successes = b.probes_leased, b.probe_successes
