"""A running job's progress, as its worker reports it with a heartbeat."""

from __future__ import annotations

import math
from datetime import datetime

from broker.entities.errors import InvalidArgument
from broker.entities.values import value_object


@value_object
class Progress:
    """How far an attempt has come: a fraction from 0 to 1 and a short note for people."""

    fraction: float
    message: str = ""
    at: datetime | None = None  # when it was reported (the store sets it)

    def same(self, other: Progress | None) -> bool:
        """Whether `other` reports the same (when it was reported aside): a heartbeat that
        repeats the job's progress writes no event."""
        return other is not None and (self.fraction, self.message) == (other.fraction, other.message)


def check_progress(progress: Progress, max_chars: int, field_name: str) -> Progress:
    """InvalidArgument naming the field unless the fraction is 0 to 1 and the message at most
    `max_chars` characters without NUL (PostgreSQL text cannot hold one)."""
    if not (math.isfinite(progress.fraction) and 0.0 <= progress.fraction <= 1.0):
        raise InvalidArgument(f"{field_name}.fraction", f"{progress.fraction!r} is outside 0 to 1")
    if len(progress.message) > max_chars:
        raise InvalidArgument(f"{field_name}.message",
                              f"{len(progress.message)} characters; at most {max_chars}")
    if "\x00" in progress.message:
        raise InvalidArgument(f"{field_name}.message", "must not contain NUL characters")
    return progress
