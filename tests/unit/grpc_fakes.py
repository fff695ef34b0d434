"""A stand-in for grpc.aio.ServicerContext, enough for the pipeline stages, and a way to run
one stage (or a chain of them) around a plain handler without a server."""

from __future__ import annotations

import grpc


class FakeContext:
    def __init__(self, metadata=(), peer="ipv4:127.0.0.1:5555", time_remaining=None) -> None:
        self.metadata = tuple(metadata)
        self._peer, self._remaining = peer, time_remaining
        self.trailers: tuple = ()
        self.status: grpc.StatusCode | None = None
        self.message: str | None = None

    def invocation_metadata(self):
        return self.metadata

    def peer(self) -> str:
        return self._peer

    def time_remaining(self):
        return self._remaining

    def set_trailing_metadata(self, metadata) -> None:
        self.trailers = tuple(metadata)

    def trailing_metadata(self):
        return self.trailers

    def code(self):
        return self.status

    async def abort(self, code, details="", trailing_metadata=()):
        # grpc.aio keeps the trailers already set when abort is given none.
        self.status, self.message = code, details
        if trailing_metadata:
            self.trailers = tuple(trailing_metadata)
        raise grpc.aio.AbortError()


async def run_stages(stages, handler, request=None, context=None, method="/broker.v1.JobService/Enqueue"):
    """Run `stages` (outermost first) around `handler(request, context)` the way grpc.aio does."""
    context = context or FakeContext()

    async def continuation(details):
        return grpc.unary_unary_rpc_method_handler(handler)

    for stage in reversed(stages):
        continuation = _wrap(stage, continuation)
    details = _Details(method, context.metadata)
    h = await continuation(details)
    return await h.unary_unary(request, context)


def _wrap(stage, continuation):
    async def next_continuation(details):
        return await stage.intercept_service(continuation, details)
    return next_continuation


class _Details:
    def __init__(self, method, metadata) -> None:
        self.method, self.invocation_metadata = method, metadata
