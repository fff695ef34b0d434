"""Stage 9, deadline: a call whose deadline passed while it went through the stages before
(a slow key lookup, a queue of calls on a busy loop) is refused before any work starts
(DEADLINE_EXCEEDED), instead of running for a caller that has gone. (The deadline itself is in
the `deadline` contextvar since the request id stage, for the store's connection wait.)"""

from __future__ import annotations

from broker.entities.errors import DeadlineExceeded


class DeadlineStage:
    async def __call__(self, call, proceed):
        left = call.time_remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded()
        return await proceed(call)
