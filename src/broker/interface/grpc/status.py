"""The one table from domain errors to gRPC status codes, and the rich details some carry
(google.rpc.RetryInfo on RESOURCE_EXHAUSTED). The error stage of the pipeline
(interceptors/errors.py) applies it."""

from __future__ import annotations

import grpc
from google.protobuf import duration_pb2
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


def code_for(exc: errors.BrokerError) -> grpc.StatusCode:
    for kind, code in STATUS:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.INTERNAL


def details_metadata(exc: errors.BrokerError, code: grpc.StatusCode) -> tuple[tuple[str, bytes], ...]:
    """The `grpc-status-details-bin` trailer for errors that carry more than a message: a
    google.rpc.Status with RetryInfo when the error says how long to wait. Empty otherwise."""
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is None:
        return ()
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(max(0, int(retry_after * 1e9)))
    status = status_pb2.Status(code=code.value[0], message=str(exc))
    status.details.add().Pack(error_details_pb2.RetryInfo(retry_delay=delay))
    return tuple(rpc_status.to_status(status).trailing_metadata)

