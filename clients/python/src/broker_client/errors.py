"""The SDK's exceptions: one tree for call failures, and two that handlers raise.

Call failures are translated from gRPC status codes in one table (``from_rpc_error``); the
original ``grpc.RpcError`` stays reachable as ``__cause__``. The rich details the broker sends
are decoded onto the exception: ``field_violations`` (INVALID_ARGUMENT: which field, and why)
and ``precondition_violations`` (FAILED_PRECONDITION: what is in the way).
"""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from .error_details import FieldViolation, PreconditionViolation, decode


class BrokerClientError(Exception):
    """A call to the broker failed."""

    def __init__(self, message: str | None = None, *, code: grpc.StatusCode | None = None,
                 field_violations: Sequence[FieldViolation] = (),
                 precondition_violations: Sequence[PreconditionViolation] = ()) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        self.code = code
        self.field_violations = tuple(field_violations)
        self.precondition_violations = tuple(precondition_violations)


class BrokerUnavailable(BrokerClientError):
    """The broker could not be reached (or kept failing) after every retry."""


class DeadlineExceeded(BrokerClientError):
    """The call did not finish within its deadline, after every retry."""


class InvalidRequest(BrokerClientError):
    """The broker refused the request as invalid; fix the input, retrying will not help."""


class NotFound(BrokerClientError):
    """The broker has no such job."""


class AlreadyExists(BrokerClientError):
    """Something of this name exists already (a schedule); nothing was changed."""


class FailedPrecondition(BrokerClientError):
    """The job is not in a state that allows this operation."""


class ResourceExhausted(BrokerClientError):
    """The broker is rate limiting or a size limit was hit."""


class Unauthenticated(BrokerClientError):
    """The broker did not accept the credentials (check the bearer token or client certificate)."""


class PermissionDenied(BrokerClientError):
    """The credentials are valid but not allowed to do this."""


_BY_CODE: dict[grpc.StatusCode, type[BrokerClientError]] = {
    grpc.StatusCode.UNAVAILABLE: BrokerUnavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.INVALID_ARGUMENT: InvalidRequest,
    grpc.StatusCode.OUT_OF_RANGE: InvalidRequest,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExists,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
}


def from_rpc_error(error: grpc.RpcError) -> BrokerClientError:
    """The SDK exception for a failed gRPC call (raise it ``from`` the original)."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else None
    cls = _BY_CODE.get(code, BrokerClientError) if code is not None else BrokerClientError
    name = code.name if code is not None else "UNKNOWN"
    fields, conditions = decode(error.trailing_metadata() if hasattr(error, "trailing_metadata") else None)
    return cls(f"{name}: {details or cls.__doc__}", code=code, field_violations=fields,
               precondition_violations=conditions)


class PermanentError(Exception):
    """Raise from a handler when retrying cannot help: the job goes straight to the dead letter
    queue (nack with permanent=true)."""


class Snooze(Exception):
    """Raise (or return) from a handler to hand the job back to run again in ``delay`` seconds
    without using an attempt: the broker gives the lease's attempt back (``Job.snoozes`` counts
    the snoozes). For "not now" (a downstream asks to come back later); a failure is an
    exception or ``RetryLater``. The broker bounds ``delay`` (30 days by default)."""

    def __init__(self, delay: float = 0.0) -> None:
        if not delay >= 0:  # also NaN
            raise ValueError(f"Snooze delay must be >= 0, got {delay}")
        super().__init__(f"snoozed for {delay:g} s")
        self.delay = float(delay)


class RetryLater(Exception):
    """Raise from a handler to fail this attempt and retry after ``delay`` seconds instead of
    the job's backoff (it still counts as an attempt)."""

    def __init__(self, delay: float, message: str = "retry requested by handler") -> None:
        if delay < 0:
            raise ValueError(f"RetryLater delay must be >= 0, got {delay}")
        super().__init__(message)
        self.delay = delay
