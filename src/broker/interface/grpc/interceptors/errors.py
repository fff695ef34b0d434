"""Stage 4, errors: every exception raised by the stages inside it or by the servicer becomes a
`CallFailed` through status.py, the one place errors are mapped: domain errors by its table
(with RetryInfo when they carry a wait), a method left unimplemented as UNIMPLEMENTED, anything
unexpected as INTERNAL naming the request id (the traceback goes to the log, never to the
client). A request whose bytes do not parse as its message type is INVALID_ARGUMENT here too
(gRPC itself would answer UNKNOWN, naming a Python exception). Cancellation passes through."""

from __future__ import annotations

import logging
import uuid

from broker.entities import errors
from broker.interface.grpc.interceptors.base import Malformed
from broker.interface.grpc.status import CallFailed, failure

log = logging.getLogger("broker.grpc")


class ErrorStage:
    async def __call__(self, call, proceed):
        try:
            if isinstance(call.request, Malformed):
                raise errors.InvalidArgument("request", f"the bytes are not a valid message of this method "
                                                        f"({type(call.request.error).__name__})")
            return await proceed(call)
        except (CallFailed, errors.BrokerError, NotImplementedError) as exc:
            raise failure(exc, call.method, call.request_id) from None
        except Exception as exc:  # noqa: BLE001 - the edge: nothing unexpected leaks to the client
            rid = call.request_id or uuid.uuid4().hex
            log.exception("unexpected error in %s", call.method, extra={"request_id": rid, "method": call.method})
            raise failure(exc, call.method, rid) from None
