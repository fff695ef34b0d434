"""Times every RPC and reports it with its method and final status code."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

# observe(method, code, seconds), e.g. ("/broker.v1.JobService/Lease", "OK", 0.004)
Observe = Callable[[str, str, float], None]


class MetricsInterceptor(grpc.aio.ServerInterceptor):
    """Outermost in the chain, so it sees every outcome: refusals by later interceptors, domain
    errors mapped to codes, and unexpected errors. Methods the server does not serve are not
    counted (their names come from clients and would make labels unbounded)."""

    def __init__(self, observe: Observe, timer: Callable[[], float] = time.perf_counter) -> None:
        self._observe, self._timer = observe, timer

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner, method = handler.unary_unary, handler_call_details.method

        async def timed(request, context):
            start, code = self._timer(), grpc.StatusCode.UNKNOWN
            try:
                response = await inner(request, context)
                code = context.code() or grpc.StatusCode.OK
                return response
            except grpc.aio.AbortError:
                code = context.code() or grpc.StatusCode.UNKNOWN
                raise
            finally:
                self._observe(method, _name(code), self._timer() - start)

        return grpc.unary_unary_rpc_method_handler(
            timed, request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer)


def _name(code) -> str:
    return code.name if isinstance(code, grpc.StatusCode) else str(code)
