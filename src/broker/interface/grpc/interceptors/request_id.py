"""Stage 1, request id: every call gets one, from the client's `x-request-id` metadata when it
sends a usable one, else a fresh one. It goes on the `Call` (the unary adapter sends it back in
the trailing metadata, a session in the call's answer), into the `request_id` contextvar that
the event sinks read, and onto every log line of the call (logs.RequestIdFilter reads the same
contextvar).

It also starts the call's other per-call values: no principal yet, and the `deadline` contextvar
(on the monotonic clock) from which the store bounds its wait for a pooled connection and a long
poll its wait, so that even the authentication stage's key lookup waits no longer than the
caller does."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from broker.interface.grpc.context import deadline, principal, request_id

HEADER = "x-request-id"
# Printable ASCII without spaces, bounded: safe to log and to send back.
_USABLE = re.compile(r"[\x21-\x7e]{1,128}")


class RequestIdStage:
    def __init__(self, make: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        self._make = make

    async def __call__(self, call, proceed):
        given = call.header(HEADER)
        rid = call.request_id = given if given and _USABLE.fullmatch(given) else self._make()
        # Fresh per-call values; reset afterwards so nothing outlives the call.
        tokens = (request_id.set(rid), principal.set(None), deadline.set(call.deadline))
        try:
            return await proceed(call)
        finally:
            for var, token in zip((request_id, principal, deadline), tokens):
                var.reset(token)
