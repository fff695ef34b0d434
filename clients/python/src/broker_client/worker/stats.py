"""What a worker counts, and why it stops leasing for good."""

from __future__ import annotations

from dataclasses import dataclass


class LeaseRefused(Exception):
    """The broker refused to lease for a reason retrying cannot fix (bad queue name,
    credentials, permissions): the worker stops."""


@dataclass
class WorkerStats:
    """Counters since the worker started."""

    leased: int = 0
    succeeded: int = 0
    failed: int = 0
    # Results dropped because the lease was lost (redelivered or cancelled).
    lost: int = 0
    # Jobs nacked for prompt redelivery at shutdown.
    aborted: int = 0
    # Jobs their handlers snoozed (handed back for later without using an attempt).
    snoozed: int = 0
    running: int = 0
    peak_running: int = 0
    lease_calls: int = 0
    # Lease calls that failed and were retried (the broker or its database was away).
    lease_failures: int = 0
