"""The asyncio worker: handlers by kind, leasing, heartbeats, batched acks, graceful stop."""

from .context import JobContext
from .execution import Outcome
from .stats import LeaseRefused, WorkerStats
from .registry import Handler, Registry
from .settings import WorkerSettings
from .worker import Worker

__all__ = ["Handler", "JobContext", "LeaseRefused", "Outcome", "Registry", "Worker", "WorkerSettings",
           "WorkerStats"]
