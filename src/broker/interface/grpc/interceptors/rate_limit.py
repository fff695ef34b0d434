"""Stage 8, rate limiting: one token bucket per principal and class of call (methods.py).
An empty bucket answers RESOURCE_EXHAUSTED with the exact wait in google.rpc.RetryInfo (the
error stage attaches it). Without authentication every caller is `anonymous` and shares one
bucket per class."""

from __future__ import annotations

from broker.interface.grpc.context import principal
from broker.interface.grpc.methods import info, is_open
from broker.usecases.rate_limit import RateLimiter

ANONYMOUS = "anonymous"


class RateLimitStage:
    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def __call__(self, call, proceed):
        if not is_open(call.method):
            who = principal.get()
            self._limiter.admit(who.key_id if who else ANONYMOUS, info(call.method).rate_class)
        return await proceed(call)
