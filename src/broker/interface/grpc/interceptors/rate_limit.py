"""Stage 8, rate limiting: one token bucket per principal and class of call (methods.py).
An empty bucket answers RESOURCE_EXHAUSTED with the exact wait in google.rpc.RetryInfo (the
error stage attaches it). Without authentication every caller is `anonymous` and shares one
bucket per class."""

from __future__ import annotations

from broker.interface.grpc.context import principal
from broker.interface.grpc.interceptors.base import Stage
from broker.interface.grpc.methods import info, is_open
from broker.usecases.rate_limit import RateLimiter

ANONYMOUS = "anonymous"


class RateLimitStage(Stage):
    def __init__(self, limiter: RateLimiter) -> None:
        super().__init__()
        self._limiter = limiter

    async def around(self, method, request, context, proceed):
        if not is_open(method):
            who = principal.get()
            self._limiter.admit(who.key_id if who else ANONYMOUS, info(method).rate_class)
        return await proceed(request, context)
