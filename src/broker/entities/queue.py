"""Queue names, per-queue defaults, the request limits, and the bounds no setting can move."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from broker.entities.errors import InvalidArgument
from broker.entities.retry import RetryPolicy

# Bounds of the representation, not settings: no setting could raise them.
# JobSpec.priority is an int32 on the wire and an integer column in PostgreSQL.
PRIORITY_MIN, PRIORITY_MAX = -(2**31), 2**31 - 1
# Durations on the wire past this (ten years) are absurd for any field; beyond it a float's
# seconds lose the nanoseconds anyway. Time limits are settings up to this.
MAX_DURATION = 10 * 366 * 86400.0
# Longer backoffs are cut to this (a century): later run_at values would not fit a datetime.
MAX_RETRY_DELAY = 100 * 365.25 * 86400.0

_QUEUE_NAME = re.compile(r"[A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class QueueDefaults:
    """What a job of a queue gets when its spec leaves a field unset. The fields' defaults are
    those of BROKER_DEFAULT_MAX_ATTEMPTS, BROKER_RETRY_*, BROKER_DEFAULT_LEASE and
    BROKER_DEFAULT_MAX_LEASE_EXPIRIES (infra/settings.py reads them)."""

    max_attempts: int = 10
    retry: RetryPolicy = RetryPolicy()
    lease_duration: float = 30.0
    # Leases that may lapse (the job crashed or hung its worker) before the job goes DEAD as a
    # poison job, whatever attempts it has left.
    max_lease_expiries: int = 5


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on requests; every one is a setting (BROKER_..., see infra/settings.py and the
    README), and every check of a request reads it from here."""

    max_queue_name_length: int = 128
    max_payload_bytes: int = 1024 * 1024
    max_headers_bytes: int = 64 * 1024  # names and values of a job's headers, UTF-8, together
    max_kind_length: int = 128
    max_key_length: int = 256  # idempotency keys
    max_worker_id_length: int = 256
    max_batch: int = 1000
    min_lease: float = 1.0
    max_lease: float = 12 * 3600.0
    max_attempts: int = 1000
    max_wait: float = 60.0
    max_queue_names: int = 100  # queue names one Lease or Stats call may name
    max_error_chars: int = 16 * 1024  # a Nack's error is cut to this many characters
    max_retry_after: float = 366 * 86400.0  # a Nack's retry_after
    default_page_size: int = 100  # ListJobs without a page_size
    max_result_bytes: int = 64 * 1024  # a job's result, carried by its Ack
    max_snooze: float = 30 * 86400.0  # a Snooze's delay
    max_progress_chars: int = 256  # a progress message, carried by a Heartbeat

    def check_snooze(self, delay: float, field_name: str) -> float:
        if not 0 <= delay <= self.max_snooze:
            raise InvalidArgument(field_name, f"{_secs(delay)}s is outside 0 to {_secs(self.max_snooze)}s")
        return delay

    def check_queue_name(self, name: str, field_name: str = "queue") -> str:
        """Return `name` when it is a valid queue name, else raise InvalidArgument."""
        if not name:
            raise InvalidArgument(field_name, "must not be empty")
        most = self.max_queue_name_length
        if len(name) > most or not _QUEUE_NAME.fullmatch(name):
            raise InvalidArgument(
                field_name, f"{name[:most + 12]!r} is not 1-{most} characters of letters, digits, '.', '_', '-'"
            )
        return name

    def check_queue_names(self, names: Sequence[str], field_name: str = "queues") -> None:
        """At most max_queue_names names (counted before any is looked at, so a huge list costs
        nothing), each a valid queue name."""
        if len(names) > self.max_queue_names:
            raise InvalidArgument(field_name, f"{len(names)} queue names; at most {self.max_queue_names} per call")
        for i, name in enumerate(names):
            self.check_queue_name(name, f"{field_name}[{i}]")

    def check_lease_duration(self, seconds: float, field_name: str) -> float:
        if not self.min_lease <= seconds <= self.max_lease:
            raise InvalidArgument(
                field_name, f"{seconds:g}s is outside {self.min_lease:g}s to {self.max_lease:g}s"
            )
        return seconds

    def check_batch(self, count: int, field_name: str) -> int:
        if not 1 <= count <= self.max_batch:
            raise InvalidArgument(field_name, f"{count} is outside 1 to {self.max_batch}")
        return count

    def check_attempts(self, count: int, field_name: str) -> int:
        """max_attempts and max_lease_expiries: 1 to max_attempts."""
        if not 1 <= count <= self.max_attempts:
            raise InvalidArgument(field_name, f"{count} is outside 1 to {self.max_attempts}")
        return count


def _secs(seconds: float) -> str:
    """Seconds for a message: 2592000, 1.5, never 2.592e+06."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".")


def check_priority(priority: int, field_name: str) -> int:
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise InvalidArgument(field_name, "must fit in 32 bits")
    return priority


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """Defaults for every queue, with overrides by queue name."""

    default: QueueDefaults = QueueDefaults()
    overrides: dict[str, QueueDefaults] = field(default_factory=dict)

    def for_queue(self, queue: str) -> QueueDefaults:
        return self.overrides.get(queue, self.default)


# Queues whose names begin so are the broker's own (the callbacks' deliveries): no producer
# enqueues and no worker leases there; operators list, inspect, redrive and purge their jobs.
INTERNAL_PREFIX = "_broker."


def check_not_internal(name: str, field_name: str) -> str:
    if name.startswith(INTERNAL_PREFIX):
        raise InvalidArgument(field_name, f"{name[:60]!r}: queues named {INTERNAL_PREFIX}* are the broker's own")
    return name
