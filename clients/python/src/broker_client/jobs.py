"""What a producer sends (JobRequest, RetryPolicy) and gets back (EnqueueResult), and how a
request becomes a wire JobSpec."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from .payloads import PayloadRef
from .v1 import job_pb2

Jitter = Literal["none", "full", "equal"]
Seconds = float | timedelta

_JITTER = {None: job_pb2.JITTER_UNSPECIFIED, "none": job_pb2.JITTER_NONE,
           "full": job_pb2.JITTER_FULL, "equal": job_pb2.JITTER_EQUAL}


def seconds(value: Seconds) -> float:
    """A duration given as seconds or a timedelta, in seconds."""
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


@dataclass(frozen=True)
class RetryPolicy:
    """Per-job backoff between attempts:
    ``delay(n) = min(max_delay, initial_delay * multiplier**(n-1))``, then jitter.
    Fields left at None take the queue's defaults. Durations are seconds or timedeltas."""

    initial_delay: Seconds | None = None
    max_delay: Seconds | None = None
    multiplier: float | None = None
    jitter: Jitter | None = None

    def __post_init__(self) -> None:
        if self.jitter not in _JITTER:
            raise ValueError(f"RetryPolicy.jitter must be one of none, full, equal; got {self.jitter!r}")
        if self.multiplier is not None and self.multiplier < 1:
            raise ValueError(f"RetryPolicy.multiplier must be at least 1, got {self.multiplier}")

    def to_proto(self) -> job_pb2.RetryPolicy:
        msg = job_pb2.RetryPolicy(multiplier=self.multiplier or 0.0, jitter=_JITTER[self.jitter])
        if self.initial_delay is not None:
            msg.initial_delay.FromNanoseconds(int(seconds(self.initial_delay) * 1e9))
        if self.max_delay is not None:
            msg.max_delay.FromNanoseconds(int(seconds(self.max_delay) * 1e9))
        return msg


@dataclass(frozen=True)
class EnqueueResult:
    """The broker's answer: the job's id, and False in ``created`` when the idempotency key
    already named a job (``job_id`` is then that job)."""

    job_id: str
    created: bool
    idempotency_key: str


def encode_payload(payload: Any) -> tuple[bytes, str | None]:
    """Bytes go as they are; a str as UTF-8 text; anything else as compact JSON.
    Returns the bytes and the content type to announce (None for raw bytes)."""
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload), None
    if isinstance(payload, str):
        return payload.encode(), "text/plain; charset=utf-8"
    return json.dumps(payload, separators=(",", ":")).encode(), "application/json"


@dataclass(frozen=True)
class JobRequest:
    """One job to enqueue; the keyword arguments of ``Client.enqueue`` as a value, for
    ``enqueue_batch``. Give ``delay`` or ``run_at`` (timezone-aware), not both."""

    queue: str
    kind: str
    payload: Any = b""
    priority: int = 0
    delay: Seconds | None = None
    run_at: datetime | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_policy: RetryPolicy | None = None
    max_attempts: int | None = None
    idempotency_key: str | None = None
    lease_duration: Seconds | None = None
    # Lapsed leases (the job crashed or hung its worker) before it goes DEAD as a poison job;
    # None: the queue's default (5).
    max_lease_expiries: int | None = None
    # Jobs of the queue with the same key run at most the queue's per_key_concurrency at a time
    # (e.g. a customer id, so one customer never has two jobs running at once); None: no key.
    concurrency_key: str | None = None

    def __post_init__(self) -> None:
        if not self.queue or not self.kind:
            raise ValueError("a job needs a queue and a kind")
        if self.delay is not None and self.run_at is not None:
            raise ValueError("give delay or run_at, not both")
        if self.delay is not None and seconds(self.delay) < 0:
            raise ValueError(f"delay must be >= 0, got {self.delay}")
        if self.run_at is not None and self.run_at.tzinfo is None:
            raise ValueError("run_at must be timezone-aware (e.g. datetime.now(timezone.utc))")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.max_lease_expiries is not None and self.max_lease_expiries < 1:
            raise ValueError(f"max_lease_expiries must be at least 1, got {self.max_lease_expiries}")
        if self.lease_duration is not None and seconds(self.lease_duration) <= 0:
            raise ValueError(f"lease_duration must be positive, got {self.lease_duration}")

    def keyed(self) -> JobRequest:
        """This request with an idempotency key: its own, or a fresh uuid4. Called once per
        logical enqueue, so every retry of it carries the same key."""
        return self if self.idempotency_key else replace(self, idempotency_key=str(uuid.uuid4()))

    def to_spec(self, now: datetime | None = None) -> job_pb2.JobSpec:
        """The wire JobSpec; ``delay`` is turned into ``run_at`` against ``now`` (UTC)."""
        if isinstance(self.payload, PayloadRef):  # an uploaded object (Client.upload)
            data, content_type = b"", None
        else:
            data, content_type = encode_payload(self.payload)
        headers = dict(self.headers)
        if content_type and "content-type" not in headers:
            headers["content-type"] = content_type
        spec = job_pb2.JobSpec(queue=self.queue, kind=self.kind, payload=data, headers=headers,
                               idempotency_key=self.idempotency_key or "", priority=self.priority,
                               max_attempts=self.max_attempts or 0,
                               max_lease_expiries=self.max_lease_expiries or 0,
                               concurrency_key=self.concurrency_key or "")
        run_at = self.run_at
        if self.delay is not None:
            run_at = (now or datetime.now(timezone.utc)) + timedelta(seconds=seconds(self.delay))
        if run_at is not None:
            spec.run_at.FromDatetime(run_at.astimezone(timezone.utc))
        if isinstance(self.payload, PayloadRef):
            spec.payload_ref.CopyFrom(self.payload.to_proto())
        if self.retry_policy is not None:
            spec.retry_policy.CopyFrom(self.retry_policy.to_proto())
        if self.lease_duration is not None:
            spec.lease_duration.FromNanoseconds(int(seconds(self.lease_duration) * 1e9))
        return spec
