"""Stage 8, deadline: a call whose deadline has already passed is refused before any work
starts (DEADLINE_EXCEEDED). Otherwise the deadline goes into a contextvar so that the store
waits for a pooled connection no longer than the caller will wait for the answer."""

from __future__ import annotations

import time

from broker.entities.errors import DeadlineExceeded
from broker.interface.grpc.context import deadline
from broker.interface.grpc.interceptors.base import Stage


class DeadlineStage(Stage):
    async def around(self, method, request, context, proceed):
        left = context.time_remaining()
        if left is not None:
            if left <= 0:
                raise DeadlineExceeded()
            deadline.set(time.monotonic() + left)
        return await proceed(request, context)
