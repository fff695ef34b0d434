"""Stage 4, errors: domain errors raised by the stages inside it or by the servicer become
their status code and message through the one table in status.py (with RetryInfo when they
carry a wait). Anything unexpected becomes INTERNAL naming the request id; the traceback goes
to the log, never to the client; a method the servicer leaves unimplemented (NotImplementedError)
is UNIMPLEMENTED. A request whose bytes do not parse as its message type is
INVALID_ARGUMENT here too (gRPC itself would answer UNKNOWN, naming a Python exception)."""

from __future__ import annotations

import logging
import uuid

import grpc

from broker.entities import errors
from broker.interface.grpc.context import request_id
from broker.interface.grpc.interceptors.base import Malformed, Stage, tolerant
from broker.interface.grpc.methods import SESSION
from broker.interface.grpc.status import code_for, details_metadata

log = logging.getLogger("broker.grpc")


class ErrorStage(Stage):
    def deserializer(self, inner):
        return tolerant(inner)

    async def intercept_service(self, continuation, handler_call_details):
        """Worker sessions answer malformed requests themselves (session.py): their stream's
        requests are parsed tolerantly too."""
        handler = await super().intercept_service(continuation, handler_call_details)
        if handler_call_details.method != SESSION or handler is None or handler.stream_stream is None:
            return handler
        return grpc.stream_stream_rpc_method_handler(
            handler.stream_stream, request_deserializer=tolerant(handler.request_deserializer),
            response_serializer=handler.response_serializer)

    async def around(self, method, request, context, proceed):
        try:
            if isinstance(request, Malformed):
                raise errors.InvalidArgument("request", f"the bytes are not a valid message of this method "
                                                        f"({type(request.error).__name__})")
            return await proceed(request, context)
        except grpc.aio.AbortError:
            raise
        except errors.BrokerError as exc:
            await abort(context, exc)
        except NotImplementedError:
            # A servicer method nobody wrote (a generated base class's): the client's mistake
            # or an older broker, never a defect to retry.
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by this broker")
        except Exception:  # noqa: BLE001 - the edge: nothing unexpected leaks to the client
            rid = request_id.get() or uuid.uuid4().hex
            log.exception("unexpected error in %s", method, extra={"request_id": rid, "method": method})
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error (request id {rid})")


async def abort(context: grpc.aio.ServicerContext, exc: errors.BrokerError) -> None:
    """End the call with the error's status; keep the trailers already set (the request id)."""
    code = code_for(exc)
    details = details_metadata(exc, code)
    if details:
        await context.abort(code, str(exc), (*(context.trailing_metadata() or ()), *details))
    await context.abort(code, str(exc))
