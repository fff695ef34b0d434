"""Python SDK for the broker: enqueue jobs (``Client``, ``AsyncClient``) and run them
(``Worker``). Delivery is at least once: make handlers idempotent (see the README)."""

from .aio import AsyncClient
from .client import Client
from .errors import (BrokerClientError, BrokerUnavailable, DeadlineExceeded, FailedPrecondition,
                     InvalidRequest, NotFound, PermanentError, PermissionDenied, ResourceExhausted,
                     RetryLater, Unauthenticated)
from .jobs import EnqueueResult, JobRequest, RetryPolicy
from .options import CallRetry, ConnectionOptions, TlsOptions
from .worker import JobContext, LeaseRefused, Registry, Worker, WorkerSettings

__version__ = "0.1.0"

__all__ = [
    "AsyncClient", "BrokerClientError", "BrokerUnavailable", "CallRetry", "Client",
    "ConnectionOptions", "DeadlineExceeded", "EnqueueResult", "FailedPrecondition",
    "InvalidRequest", "JobContext", "JobRequest", "LeaseRefused", "NotFound", "PermanentError",
    "PermissionDenied", "Registry", "ResourceExhausted", "RetryLater", "RetryPolicy",
    "TlsOptions", "Unauthenticated", "Worker", "WorkerSettings",
]
