"""Python SDK for the broker: enqueue jobs (``Client``, ``AsyncClient``), run them
(``Worker``) and operate the broker (``AdminClient``, ``AsyncAdminClient``; their records are in
``broker_client.admin``). Delivery is at least once: make handlers idempotent (see the README)."""

from .admin import AdminClient, AsyncAdminClient, JobState
from .aio import AsyncClient
from .client import Client
from .error_details import FieldViolation, PreconditionViolation
from .errors import (BrokerClientError, BrokerUnavailable, DeadlineExceeded, FailedPrecondition,
                     InvalidRequest, NotFound, PermanentError, PermissionDenied, ResourceExhausted,
                     RetryLater, Snooze, Unauthenticated)
from .jobs import EnqueueResult, JobRequest, RetryPolicy
from .options import CallRetry, ConnectionOptions, TlsOptions
from .results import JobCancelled, JobFailed, ResultError, WaitTimedOut
from .worker import JobContext, LeaseRefused, Registry, Worker, WorkerSettings

__version__ = "0.2.0"  # the release: the same as broker.__version__

__all__ = [
    "AdminClient", "AsyncAdminClient", "AsyncClient", "BrokerClientError", "BrokerUnavailable",
    "CallRetry", "Client", "ConnectionOptions", "DeadlineExceeded", "EnqueueResult",
    "FailedPrecondition", "FieldViolation", "InvalidRequest", "JobCancelled", "JobContext", "JobFailed",
    "JobRequest", "JobState", "LeaseRefused", "NotFound", "PermanentError", "PermissionDenied",
    "PreconditionViolation", "Registry", "ResourceExhausted", "ResultError", "RetryLater", "RetryPolicy",
    "Snooze", "TlsOptions", "Unauthenticated",
    "WaitTimedOut", "Worker", "WorkerSettings",
]
