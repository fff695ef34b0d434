"""Job results: what a handler's return value becomes (``encode_result``), and how a producer
waiting for a job learns how it ended (``outcome``: its result, or ``JobFailed``/``JobCancelled``)."""

from __future__ import annotations

import json
from typing import Any

from .admin.records import Job, JobState
from .errors import BrokerClientError

# The broker's default BROKER_MAX_RESULT_BYTES; a worker talking to a broker with another limit
# passes its value (Worker(max_result_bytes=...)).
MAX_RESULT_BYTES = 64 * 1024


class ResultError(Exception):
    """A handler returned what cannot be a job result: not JSON-serialisable, or too large. The
    attempt fails for good (a retry would return the same kind of value)."""


class JobFailed(BrokerClientError):
    """The job is DEAD: its attempts are used up or one failed for good. ``job.last_error`` says
    why (also in the message); ``job`` is the whole record."""

    def __init__(self, job: Job) -> None:
        self.job = job
        super().__init__(f"job {job.id} is dead: {job.last_error or 'no error recorded'}")


class JobCancelled(BrokerClientError):
    """An operator cancelled the job before it succeeded."""

    def __init__(self, job: Job) -> None:
        self.job = job
        super().__init__(f"job {job.id} was cancelled")


class WaitTimedOut(BrokerClientError, TimeoutError):
    """The job had not finished when the wait ended; ``job`` is the last record seen."""

    def __init__(self, job: Job, timeout: float) -> None:
        self.job = job
        super().__init__(f"job {job.id} is still {job.state.value} after {timeout:g} s")


def encode_result(value: Any, limit: int = MAX_RESULT_BYTES) -> bytes | None:
    """None: no result. bytes as they are, str as UTF-8, anything else as JSON (compact)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
    elif isinstance(value, str):
        data = value.encode()
    else:
        try:
            data = json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise ResultError(f"the handler's return value is not JSON-serialisable: {exc}") from None
    if len(data) > limit:
        raise ResultError(f"the handler's result is {len(data)} bytes; at most {limit}")
    return data


def outcome(job: Job) -> bytes | None:
    """A finished job's result (None when it has none); raises JobFailed for a DEAD job and
    JobCancelled for a cancelled one."""
    if job.state is JobState.DEAD:
        raise JobFailed(job)
    if job.state is JobState.CANCELLED:
        raise JobCancelled(job)
    return job.result


def finished(job: Job) -> bool:
    return job.state in (JobState.SUCCEEDED, JobState.DEAD, JobState.CANCELLED)


def poll_delays(first: float = 0.05, most: float = 1.0):
    """Seconds between GetJob calls while waiting: quick at first, then at most ``most``."""
    delay = first
    while True:
        yield delay
        delay = min(most, delay * 1.5)
