"""The one table from domain errors to gRPC status codes, and the interceptor that applies it."""

from __future__ import annotations

import logging
import uuid

import grpc

from broker.entities import errors
from broker.interface.grpc.context import request_id

log = logging.getLogger("broker.grpc")

# Most specific first.
STATUS = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
)


def code_for(exc: errors.BrokerError) -> grpc.StatusCode:
    for kind, code in STATUS:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Domain errors become their status code and message; anything unexpected becomes INTERNAL
    with the request id (the traceback goes to the log, never to the client)."""

    def __init__(self) -> None:
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None or handler.unary_unary is None:
                return handler
            wrapped = self._wrapped[method] = self._wrap(handler, method)
        return wrapped

    def _wrap(self, handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
        """Built once per method: the servicers' handlers never change."""
        inner = handler.unary_unary

        async def guarded(request, context):
            try:
                return await inner(request, context)
            except grpc.aio.AbortError:
                raise
            except errors.BrokerError as exc:
                await context.abort(code_for(exc), str(exc))
            except Exception:  # noqa: BLE001 - the edge: nothing unexpected leaks to the client
                rid = request_id.get() or uuid.uuid4().hex
                log.exception("unexpected error", extra={"request_id": rid, "method": method})
                await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {rid})")

        return grpc.unary_unary_rpc_method_handler(
            guarded, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)
