"""A stand-in for grpc.aio.ServicerContext, and a way to run one stage (or a chain of them)
around a plain handler without a server, through the unary adapter a server uses."""

from __future__ import annotations

import grpc

from broker.interface.grpc.interceptors import PipelineInterceptor


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
    """Run `stages` (outermost first) around `handler(request, context)` as a unary call."""
    context = context or FakeContext()

    async def continuation(details):
        return grpc.unary_unary_rpc_method_handler(handler)

    wrapped = await PipelineInterceptor(stages).intercept_service(continuation, Details(method, context.metadata))
    return await wrapped.unary_unary(request, context)


class Details:
    def __init__(self, method, metadata=()) -> None:
        self.method, self.invocation_metadata = method, metadata
