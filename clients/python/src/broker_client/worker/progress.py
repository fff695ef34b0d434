"""A handler's progress reports (``JobContext.progress``): checked where they are made, sent as
a HeartbeatItem with the lease's next heartbeat."""

from __future__ import annotations

from ..v1 import job_pb2

# The broker's default bound on a progress message (BROKER_MAX_PROGRESS_CHARS).
MAX_PROGRESS_CHARS = 256

Progress = tuple[float, str]


def checked(fraction: float, message: str) -> Progress:
    """The report, or ValueError when the broker would refuse it (it names the field too)."""
    fraction = float(fraction)
    if not 0.0 <= fraction <= 1.0:  # also NaN
        raise ValueError(f"progress fraction must be 0 to 1, got {fraction}")
    if len(message) > MAX_PROGRESS_CHARS:
        raise ValueError(f"progress message of {len(message)} characters; at most {MAX_PROGRESS_CHARS}")
    return fraction, message


def to_wire(progress: Progress) -> job_pb2.Progress:
    return job_pb2.Progress(fraction=progress[0], message=progress[1])
