"""Stage 5, load shedding: a bound on the calls the broker works on at once. A call beyond it is
refused at once with RESOURCE_EXHAUSTED and a jittered google.rpc.RetryInfo (the error stage
attaches it), instead of queueing without end or being cancelled by gRPC core (server.py sets
core's own limits high, so that this stage, not core, decides).

Long polls (a Lease with a `wait`) have a bound of their own: they are in flight for up to a
minute each while costing little, so counting them against the first bound would let a crowd of
idle workers lock out the acks, heartbeats and enqueues. A long poll counts against the long-poll
bound for the whole call, its claims included, and never against the first.

Calls on worker sessions pass this stage one by one (session.py runs the same chain), so they count like their unary
twins; the session's stream itself does not. Health checks and reflection are never shed: a
probe must see a busy broker as alive. The counts are plain integers: every call runs on the
server's one event loop, and nothing awaits between the check and the increment.
"""

from __future__ import annotations

import random

from broker.entities.errors import ResourceExhausted
from broker.interface.grpc.methods import is_open

LEASE = "/broker.v1.JobService/Lease"
# A refused call is told to come back after a random delay in this range (seconds), so that a
# burst's refused calls do not all return at the same instant.
RETRY_AFTER = (0.1, 1.0)


def is_long_poll(method: str, request) -> bool:
    """A Lease that asks to wait for work."""
    if method != LEASE or not request.HasField("wait"):
        return False
    return request.wait.seconds > 0 or (request.wait.seconds == 0 and request.wait.nanos > 0)


class InFlightStage:
    def __init__(self, max_calls: int, max_long_polls: int, rng: random.Random | None = None) -> None:
        if max_calls < 1 or max_long_polls < 1:
            raise ValueError("the in-flight bounds must be at least 1")
        self.max_calls, self.max_long_polls = max_calls, max_long_polls
        self.calls = self.long_polls = 0
        self._rng = rng or random.Random()

    async def __call__(self, call, proceed):
        if is_open(call.method):
            return await proceed(call)
        if is_long_poll(call.method, call.request):
            return await self._long_poll(call, proceed)
        if self.calls >= self.max_calls:
            raise self._refusal(f"{self.max_calls} calls in flight (BROKER_MAX_IN_FLIGHT)")
        self.calls += 1
        try:
            return await proceed(call)
        finally:
            self.calls -= 1

    async def _long_poll(self, call, proceed):
        if self.long_polls >= self.max_long_polls:
            raise self._refusal(f"{self.max_long_polls} long polls waiting (BROKER_MAX_LONG_POLLS)")
        self.long_polls += 1
        try:
            return await proceed(call)
        finally:
            self.long_polls -= 1

    def _refusal(self, what: str) -> ResourceExhausted:
        wait = self._rng.uniform(*RETRY_AFTER)
        return ResourceExhausted(f"the broker is at its limit of {what}; retry in {wait:.3f}s",
                                 retry_after=wait)
