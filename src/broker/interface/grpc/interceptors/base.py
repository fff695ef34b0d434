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
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

Proceed = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]


class Stage(grpc.aio.ServerInterceptor):
    """One step around unary-unary calls. Subclasses implement `around`.

    The wrapped handler is built once per method and reused: the servicers' handlers never
    change, and every stage keeps its per-call work in `around`, so skipping the rest of the
    chain's `intercept_service` on later calls changes nothing but the cost. Methods the server
    does not serve are not remembered (their names come from clients)."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is not None:
            return wrapped
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary

        async def run(request, context):
            return await self.around(method, request, context, inner)

        wrapped = self._wrapped[method] = grpc.unary_unary_rpc_method_handler(
            run, request_deserializer=self.deserializer(handler.request_deserializer),
            response_serializer=handler.response_serializer)
        return wrapped

    def deserializer(self, inner: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
        """The request parser gRPC will use (the outermost stage's; each passes on the inner one)."""
        return inner

    async def around(self, method: str, request: Any, context: grpc.aio.ServicerContext,
                     proceed: Proceed) -> Any:
        raise NotImplementedError


class AfterCallStage(Stage):
    """A stage that acts once the call is over (logs, metrics): `finished` gets the status code
    the call ended with and how long the rest of the chain took."""

    async def around(self, method, request, context, proceed):
        started, failure = time.perf_counter(), None
        try:
            return await proceed(request, context)
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self.finished(method, context, outcome(context, failure), time.perf_counter() - started)

    def finished(self, method: str, context: grpc.aio.ServicerContext, code: grpc.StatusCode,
                 seconds: float) -> None:
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


class Malformed:
    """Stands in for a request whose bytes did not parse, so that the pipeline (not gRPC's
    generic UNKNOWN) answers it."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def tolerant(parse: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if parse is None:
        return None

    def parse_or_mark(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the caller's malformed input
            return Malformed(exc)
    return parse_or_mark
