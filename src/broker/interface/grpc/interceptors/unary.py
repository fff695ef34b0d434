"""The request pipeline as a grpc.aio server interceptor, for unary calls.

grpc.aio lets a server interceptor see only the method name and metadata
(`intercept_service(continuation, handler_call_details)`), so the adapter wraps the unary-unary
behaviour of the servicer's handler: per call it builds a `Call` from the ServicerContext, runs
the chain (base.compose) and sends the outcome back: the response with the request id in the
trailers, or a `CallFailed` as `context.abort(code, message, trailers)`. The wrapped handler is
built once per method and reused; methods the server does not serve are not remembered (their
names come from clients). Streaming handlers pass through untouched (health Watch, reflection);
the worker session's stream is parsed tolerantly, and session.py runs the same chain per call.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import grpc

from broker.interface.grpc.interceptors.base import Call, Stage, compose, tolerant
from broker.interface.grpc.interceptors.request_id import HEADER
from broker.interface.grpc.methods import SESSION, UPLOAD
from broker.interface.grpc.status import CallFailed


class PipelineInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, stages: Sequence[Stage]) -> None:
        self.stages = tuple(stages)
        self.run = compose(self.stages)
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrap(method, handler)
            self._wrapped[method] = wrapped
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        if method == UPLOAD and handler.stream_unary is not None:
            # A streamed upload runs the chain once, its request the stream of messages.
            return grpc.stream_unary_rpc_method_handler(
                self._through(method, handler.stream_unary),
                request_deserializer=tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        if handler.unary_unary is None:
            if method != SESSION or handler.stream_stream is None:
                return handler
            # Worker sessions answer malformed requests themselves.
            return grpc.stream_stream_rpc_method_handler(
                handler.stream_stream, request_deserializer=tolerant(handler.request_deserializer),
                response_serializer=handler.response_serializer)
        return grpc.unary_unary_rpc_method_handler(
            self._through(method, handler.unary_unary), request_deserializer=tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer)

    def _through(self, method: str, servicer):
        """The servicer's method behind the chain."""
        run = self.run

        async def unary(request, context: grpc.aio.ServicerContext):
            left = context.time_remaining()
            call = Call(method, request, context.invocation_metadata(), context.peer,
                        None if left is None else time.monotonic() + left, servicer, context)
            try:
                response = await run(call)
            except CallFailed as failed:
                trailers = ((HEADER, call.request_id),) if call.request_id else ()
                await context.abort(failed.code, failed.message, (*trailers, *failed.details_metadata()))
            if call.request_id:
                context.set_trailing_metadata(((HEADER, call.request_id),))
            return response

        return unary
