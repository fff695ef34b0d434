"""What every stage of the request pipeline shares.

grpc.aio lets a server interceptor see only the method name and metadata
(`intercept_service(continuation, handler_call_details)`). To act before and after the call, a
stage wraps the unary-unary behaviour of the handler the rest of the chain returns; its
`around` then runs with the request and the ServicerContext, and calls `proceed` to go on.
Streaming handlers (health Watch, reflection) pass through untouched: the broker's own RPCs
are all unary.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

Proceed = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class Stage(grpc.aio.ServerInterceptor):
    """One step around unary-unary calls. Subclasses implement `around`."""

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, method = handler.unary_unary, handler_call_details.method

        async def run(request, context):
            return await self.around(method, request, context, inner)

        return grpc.unary_unary_rpc_method_handler(
            run, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)

    async def around(self, method: str, request: Any, context: grpc.aio.ServicerContext,
                     proceed: Proceed) -> Any:
        raise NotImplementedError


def outcome(context: grpc.aio.ServicerContext, exc: BaseException | None) -> grpc.StatusCode:
    """The status a call ended with, as seen from a stage outside the error stage."""
    if exc is None or isinstance(exc, grpc.aio.AbortError):
        return context.code() or grpc.StatusCode.OK
    if isinstance(exc, asyncio.CancelledError):
        # gRPC cancels the handler when the client goes away or the deadline passes.
        left = context.time_remaining()
        return grpc.StatusCode.DEADLINE_EXCEEDED if left is not None and left <= 0 else grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    """The first value of a (lower-case) metadata key, or None."""
    for k, v in context.invocation_metadata() or ():
        if k == key:
            return v if isinstance(v, str) else None
    return None
