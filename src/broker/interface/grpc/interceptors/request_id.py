"""Stage 1, request id: every call gets one, from the client's `x-request-id` metadata when it
sends a usable one, else a fresh one. It goes back in the trailing metadata, into the
contextvar that servicers pass to the use cases (and so to the event log), and onto every log
line of the call (logs.RequestIdFilter reads the same contextvar).

It also starts the call's other per-call values: no principal yet, and the deadline (on the
monotonic clock) from which the store bounds its wait for a pooled connection, so that even
the authentication stage's key lookup waits no longer than the caller does."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable

from broker.interface.grpc.context import deadline, principal, request_id
from broker.interface.grpc.interceptors.base import Stage, metadata_value

HEADER = "x-request-id"
# Printable ASCII without spaces, bounded: safe to log and to send back.
_USABLE = re.compile(r"[\x21-\x7e]{1,128}")


class RequestIdStage(Stage):
    def __init__(self, make: Callable[[], str] = lambda: uuid.uuid4().hex) -> None:
        super().__init__()
        self._make = make

    async def around(self, method, request, context, proceed):
        given = metadata_value(context, HEADER)
        rid = given if given and _USABLE.fullmatch(given) else self._make()
        context.set_trailing_metadata(((HEADER, rid),))
        left = context.time_remaining()
        # Fresh per-call values; reset afterwards so nothing outlives the call.
        tokens = (request_id.set(rid), principal.set(None),
                  deadline.set(None if left is None else time.monotonic() + left))
        try:
            return await proceed(request, context)
        finally:
            for var, token in zip((request_id, principal, deadline), tokens):
                var.reset(token)
