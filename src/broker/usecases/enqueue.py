"""Enqueue: validate job specs, resolve queue defaults, insert them idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from broker.entities.errors import InvalidArgument
from broker.entities.job import check_storable
from broker.entities.payload import HOW_TO_CONFIGURE, PayloadRef
from broker.entities.queue import Limits, QueueConfig, QueueDefaults, check_not_internal, check_priority
from broker.entities.queue_retry import RetryDefaults
from broker.entities.retry import Jitter, RetryPolicy
from broker.entities.values import value_object
from broker.usecases.group_commit import Write
from broker.usecases.payloads.prepare import PreparePayloads
from broker.usecases.ports import Clock, EventSink, Inserted, JobStore, NewJob, Notifier
from broker.usecases.queues.retry_ports import RetryStore


@dataclass(frozen=True, slots=True)
class RetrySpec:
    """Per-job overrides of the queue's retry policy; None keeps the queue's value."""

    initial_delay: float | None = None
    max_delay: float | None = None
    multiplier: float | None = None
    jitter: Jitter | None = None


@value_object
class JobSpec:
    """What to run, as a caller describes it. None means the queue's default."""

    queue: str
    kind: str
    payload: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    priority: int = 0
    run_at: datetime | None = None
    max_attempts: int | None = None
    retry: RetrySpec = RetrySpec()
    lease_duration: float | None = None
    max_lease_expiries: int | None = None
    payload_ref: PayloadRef | None = None  # an upload's object instead of `payload`
    concurrency_key: str | None = None


_NO_OVERRIDE = RetrySpec()


class Enqueue:
    """Adds jobs. A key the queue already holds returns the existing job with created=False.
    `retry`: the queues' run-time retry policies; `write`: how the jobs reach the store (a
    GroupCommit around it), the store's own enqueue when not given. With object storage
    (`payloads`), references are checked and large payloads offloaded."""

    def __init__(self, store: JobStore, clock: Clock, notifier: Notifier, events: EventSink,
                 queues: QueueConfig, limits: Limits, retry: RetryStore | None = None,
                 write: Write | None = None, payloads: PreparePayloads | None = None) -> None:
        self._write = write or store.enqueue
        self._clock, self._notifier, self._events = clock, notifier, events
        self._queues, self._limits, self._retry, self._payloads = queues, limits, retry, payloads
        self._runtime: dict[str, RetryDefaults] = {}  # the queues' run-time retry defaults, last read

    async def __call__(self, specs: Sequence[JobSpec], batch: bool = True) -> list[Inserted]:
        if batch:
            self._limits.check_batch(len(specs), "jobs")
        now = self._clock.now()
        if self._retry is not None:
            self._runtime = await self._retry.all()
        prefix = (lambda i: f"jobs[{i}].") if batch else (lambda i: "job.")
        jobs = [self._validate(spec, now, prefix(i)) for i, spec in enumerate(specs)]
        if self._payloads is not None:
            jobs = await self._payloads(jobs, prefix, now)
        inserted, events = await self._write(jobs, now)
        self._events.record(events)
        ready = {e.queue for e in events}
        if ready:
            self._notifier.notify(sorted(ready))
        return inserted

    def check(self, spec: JobSpec, at: str = "job.") -> None:
        """Raise InvalidArgument (its field under `at`) when Enqueue would refuse `spec`; nothing
        is enqueued (schedules check their job template with it)."""
        self._validate(spec, self._clock.now(), at)

    def defaults(self, queue: str) -> QueueDefaults:
        """The settings' defaults of the queue, under its run-time retry policy if it has one."""
        base = self._queues.for_queue(queue)
        runtime = self._runtime.get(queue) if self._runtime else None
        return runtime.over(base) if runtime is not None else base

    def _validate(self, spec: JobSpec, now: datetime, at: str) -> NewJob:
        limits = self._limits
        check_not_internal(limits.check_queue_name(spec.queue, at + "queue"), at + "queue")
        _check_text(spec.kind, at + "kind", limits.max_kind_length)
        self._check_payload(spec, at)
        if spec.headers:
            if sum(len(k.encode()) + len(v.encode()) for k, v in spec.headers.items()) > limits.max_headers_bytes:
                raise InvalidArgument(at + "headers", f"over the limit of {limits.max_headers_bytes} bytes")
            for name, value in spec.headers.items():
                check_storable(name + value, at + "headers")
        key = spec.idempotency_key or None
        if key is not None:
            _check_text(key, at + "idempotency_key", limits.max_key_length)
        concurrency_key = spec.concurrency_key or None
        if concurrency_key is not None:
            _check_text(concurrency_key, at + "concurrency_key", limits.max_key_length)
        check_priority(spec.priority, at + "priority")
        defaults = self.defaults(spec.queue)
        max_attempts = spec.max_attempts or defaults.max_attempts
        limits.check_attempts(max_attempts, at + "max_attempts")
        lease = spec.lease_duration if spec.lease_duration is not None else defaults.lease_duration
        limits.check_lease_duration(lease, at + "lease_duration")
        lapses = spec.max_lease_expiries or defaults.max_lease_expiries
        limits.check_attempts(lapses, at + "max_lease_expiries")
        return NewJob(
            queue=spec.queue, kind=spec.kind, payload=spec.payload, headers=spec.headers,
            idempotency_key=key, priority=spec.priority, run_at=spec.run_at or now,
            max_attempts=max_attempts, retry=_policy(defaults.retry, spec.retry, at),
            lease_duration=lease, max_lease_expiries=lapses, payload_ref=spec.payload_ref,
            concurrency_key=concurrency_key,
        )

    def _check_payload(self, spec: JobSpec, at: str) -> None:
        max_bytes = self._limits.max_payload_bytes
        if len(spec.payload) > max_bytes:
            how = ("upload it (CreateUpload) and enqueue its payload_ref" if self._payloads is not None
                   else HOW_TO_CONFIGURE)
            raise InvalidArgument(at + "payload", f"{len(spec.payload)} bytes is over the limit of "
                                                  f"{max_bytes} bytes: {how}")
        if spec.payload_ref is not None:
            if self._payloads is None:
                raise InvalidArgument(at + "payload_ref", f"object storage is not configured: {HOW_TO_CONFIGURE}")
            if spec.payload:
                raise InvalidArgument(at + "payload", "must be empty with a payload_ref")
            spec.payload_ref.check(at + "payload_ref.")


def _policy(default: RetryPolicy, spec: RetrySpec, at: str) -> RetryPolicy:
    if spec == _NO_OVERRIDE:  # most jobs: the queue's policy as it is
        return default
    try:
        return default.merged(initial_delay=spec.initial_delay, max_delay=spec.max_delay,
                              multiplier=spec.multiplier, jitter=spec.jitter)
    except InvalidArgument as exc:
        raise exc.at(at) from None


def _check_text(value: str, field_name: str, max_length: int) -> None:
    if not value:
        raise InvalidArgument(field_name, "must not be empty")
    if len(value) > max_length:
        raise InvalidArgument(field_name, f"is {len(value)} characters; at most {max_length}")
    check_storable(value, field_name)
