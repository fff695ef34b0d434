"""How a worker leases and runs jobs: one frozen value, checked when it is made."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WorkerSettings:
    """How a worker leases and runs jobs. Durations are seconds."""

    queues: tuple[str, ...] = ()
    concurrency: int = 10
    # Lease length asked of the broker (1 s to 12 h); None: each job's own lease duration.
    lease_duration: float | None = None
    # Long-poll wait of each Lease call when no job is ready (the broker allows up to 60 s).
    poll_wait: float = 10.0
    # Lease calls in flight at once: slots freed while one is out are asked for by another.
    lease_calls: int = 2
    # On SIGTERM/SIGINT, running jobs get this long to finish before they are nacked.
    shutdown_grace: float = 30.0
    # Per-job time limit for handlers that do not set their own; None: no limit.
    handler_timeout: float | None = None
    # Size of the process pool for cpu_bound handlers (0: os.cpu_count()).
    processes: int = 0
    flush_interval: float = 0.005
    flush_size: int = 100
    # The largest result (a handler's return value, encoded) an ack may carry: the broker's
    # BROKER_MAX_RESULT_BYTES. A larger one fails the attempt for good (results.ResultError).
    max_result_bytes: int = 64 * 1024
    # Lease, Heartbeat, Ack, Nack and Snooze over one WorkerSession stream (less CPU per call on both
    # sides); False, or a broker without sessions: one unary RPC per call.
    session: bool = True
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}")

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {self.concurrency}")
        if not 1 <= self.lease_calls <= 8:
            raise ValueError(f"lease_calls must be between 1 and 8, got {self.lease_calls}")
        if not 0 <= self.poll_wait <= 60:
            raise ValueError(f"poll_wait must be between 0 and 60 s, got {self.poll_wait}")
        if self.lease_duration is not None and self.lease_duration < 1:
            raise ValueError(f"lease_duration must be at least 1 s, got {self.lease_duration}")
        if self.shutdown_grace < 0 or self.flush_interval < 0 or not 1 <= self.flush_size <= 1000:
            raise ValueError("need shutdown_grace >= 0, flush_interval >= 0, 1 <= flush_size <= 1000")
        if self.max_result_bytes < 0:
            raise ValueError(f"max_result_bytes must not be negative, got {self.max_result_bytes}")
