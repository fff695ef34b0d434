"""Queue names, per-queue defaults and the request limits."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from broker.entities.errors import InvalidArgument
from broker.entities.retry import RetryPolicy

_QUEUE_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


def check_queue_name(name: str, field_name: str = "queue") -> str:
    """Return `name` when it is a valid queue name, else raise InvalidArgument."""
    if not name:
        raise InvalidArgument(field_name, "must not be empty")
    if not _QUEUE_NAME.fullmatch(name):
        raise InvalidArgument(
            field_name, f"{name[:140]!r} is not 1-128 characters of letters, digits, '.', '_', '-'"
        )
    return name


@dataclass(frozen=True, slots=True)
class QueueDefaults:
    """What a job of a queue gets when its spec leaves a field unset."""

    max_attempts: int = 10
    retry: RetryPolicy = RetryPolicy()
    lease_duration: float = 30.0
    # Leases that may lapse (the job crashed or hung its worker) before the job goes DEAD as a
    # poison job, whatever attempts it has left.
    max_lease_expiries: int = 5


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on requests; every one is a setting."""

    max_payload_bytes: int = 1024 * 1024
    max_batch: int = 1000
    min_lease: float = 1.0
    max_lease: float = 12 * 3600.0
    max_attempts: int = 1000
    max_wait: float = 60.0
    max_headers_bytes: int = 64 * 1024
    max_key_length: int = 256
    max_queue_names: int = 100  # queue names one Lease or Stats call may name

    def check_lease_duration(self, seconds: float, field_name: str) -> float:
        if not self.min_lease <= seconds <= self.max_lease:
            raise InvalidArgument(
                field_name, f"{seconds:g}s is outside {self.min_lease:g}s to {self.max_lease:g}s"
            )
        return seconds

    def check_queue_names(self, names, field_name: str = "queues") -> None:
        """At most max_queue_names names (counted before any is looked at, so a huge list costs
        nothing), each a valid queue name."""
        if len(names) > self.max_queue_names:
            raise InvalidArgument(field_name, f"{len(names)} queue names; at most {self.max_queue_names} per call")
        for i, name in enumerate(names):
            check_queue_name(name, f"{field_name}[{i}]")

    def check_batch(self, count: int, field_name: str) -> int:
        if not 1 <= count <= self.max_batch:
            raise InvalidArgument(field_name, f"{count} is outside 1 to {self.max_batch}")
        return count


@dataclass(frozen=True, slots=True)
class QueueConfig:
    """Defaults for every queue, with overrides by queue name."""

    default: QueueDefaults = QueueDefaults()
    overrides: dict[str, QueueDefaults] = field(default_factory=dict)

    def for_queue(self, queue: str) -> QueueDefaults:
        return self.overrides.get(queue, self.default)
