"""The one table from domain errors to gRPC status codes, and the rich details some carry
(google.rpc.RetryInfo on RESOURCE_EXHAUSTED, BadRequest naming the field on INVALID_ARGUMENT,
PreconditionFailure on FAILED_PRECONDITION), in the `grpc-status-details-bin` trailer. The error stage of the pipeline
(interceptors/errors.py) applies it: every exception becomes a `CallFailed`, which the unary
adapter sends as the RPC's status and trailers and a worker session as the call's `error`."""

from __future__ import annotations

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from broker.entities import errors

# Most specific first.
STATUS = (
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DeadlineExceeded, grpc.StatusCode.DEADLINE_EXCEEDED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
)


class CallFailed(Exception):
    """A call's final status other than OK: code, message, how long to wait before a retry
    (seconds; None when the error says nothing about it), and the google.rpc detail messages
    (BadRequest, PreconditionFailure) that say what to fix."""

    def __init__(self, code: grpc.StatusCode, message: str, retry_after: float | None = None,
                 details: tuple[Message, ...] = ()) -> None:
        super().__init__(message)
        self.code, self.message, self.retry_after, self.details = code, message, retry_after, details

    def retry_delay(self) -> duration_pb2.Duration | None:
        """google.rpc.RetryInfo's delay, or None."""
        if self.retry_after is None:
            return None
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(max(0, int(self.retry_after * 1e9)))
        return delay

    def details_metadata(self) -> tuple[tuple[str, bytes], ...]:
        """The `grpc-status-details-bin` trailer for errors that carry more than a message: a
        google.rpc.Status with RetryInfo when the error says how long to wait, and the detail
        messages. Empty otherwise."""
        delay = self.retry_delay()
        if delay is None and not self.details:
            return ()
        status = status_pb2.Status(code=self.code.value[0], message=self.message)
        if delay is not None:
            status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
        for detail in self.details:
            status.details.add().Pack(detail)
        return tuple(rpc_status.to_status(status).trailing_metadata)


def details_for(exc: errors.BrokerError) -> tuple[Message, ...]:
    """What a client can act on besides the message: the field at fault, the condition in the way."""
    if isinstance(exc, errors.InvalidArgument):
        violation = error_details_pb2.BadRequest.FieldViolation(field=exc.field, description=exc.problem)
        return (error_details_pb2.BadRequest(field_violations=[violation]),)
    if isinstance(exc, errors.FailedPrecondition):
        violation = error_details_pb2.PreconditionFailure.Violation(
            type=exc.violation_type, subject=exc.subject, description=str(exc))
        return (error_details_pb2.PreconditionFailure(violations=[violation]),)
    return ()


def code_for(exc: errors.BrokerError) -> grpc.StatusCode:
    for kind, code in STATUS:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def failure(exc: Exception, method: str, request_id: str) -> CallFailed:
    """What the caller is told of `exc`. Domain errors by the table; a method the servicer leaves
    unimplemented (NotImplementedError) is UNIMPLEMENTED (the client's mistake or an older
    broker, never a defect to retry); anything else is INTERNAL naming only the request id."""
    if isinstance(exc, CallFailed):
        return exc
    if isinstance(exc, errors.BrokerError):
        return CallFailed(code_for(exc), str(exc), getattr(exc, "retry_after", None), details_for(exc))
    if isinstance(exc, NotImplementedError):
        return CallFailed(grpc.StatusCode.UNIMPLEMENTED, f"{method} is not implemented by this broker")
    return CallFailed(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")
