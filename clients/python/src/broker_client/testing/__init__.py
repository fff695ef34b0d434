"""Test handlers and producer code without a broker.

``run_job`` runs one attempt of a handler exactly as a worker would (sync handlers in a
thread, time limits, PermanentError and RetryLater classified) and returns the Outcome.
``InMemoryBroker`` accepts enqueues like ``Client`` and runs them through a worker's
handlers, retrying failures up to each job's max_attempts. Time is not simulated: delays,
run_at and backoffs are ignored, every pending job runs on the next ``run_all``.
"""

from __future__ import annotations

from ..worker.execution import Outcome
from .handlers import arun_job, make_context, run_job
from .memory_broker import InMemoryBroker, MemoryJob

__all__ = ["InMemoryBroker", "MemoryJob", "Outcome", "arun_job", "make_context", "run_job"]
