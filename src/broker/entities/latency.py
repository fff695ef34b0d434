"""Pickup and run-time histograms (the dashboard's latency charts): fixed, log-spaced buckets and
percentiles read from bucket counts, as Prometheus' histogram_quantile reads them."""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

# Upper bounds in seconds: those of the broker_job_*_seconds histograms (infra/metrics.py), then
# on to a day (leases last up to 12 h; a job may wait longer). The last bucket is +Inf.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600,
           1200, 1800, 3600, 7200, 21600, 43200, 86400, math.inf)
PICKUP, RUN = "pickup", "run"
KINDS = (PICKUP, RUN)


def bucket_of(seconds: float) -> float:
    """The upper bound of the bucket that counts `seconds` (a negative time counts as 0)."""
    return BUCKETS[bisect.bisect_left(BUCKETS, max(0.0, seconds))]


def quantile(counts: Mapping[float, int], q: float) -> float | None:
    """The q-quantile (0 < q < 1) of the times counted by upper bound: linear within its bucket
    (from the bound below it; the first from 0); in the +Inf bucket, the largest finite bound.
    None when empty."""
    total = sum(counts.values())
    if total == 0:
        return None
    rank, seen = q * total, 0
    for le in sorted(counts):
        n = counts[le]
        if n and seen + n >= rank:
            lower = _below(le)
            return lower if math.isinf(le) else lower + (le - lower) * (rank - seen) / n
        seen += n
    return _below(max(counts))


def _below(le: float) -> float:
    """The upper bound of the bucket before the one of bound `le` (0 for the first)."""
    i = bisect.bisect_left(BUCKETS, le)
    return BUCKETS[i - 1] if i > 0 else 0.0


@dataclass(frozen=True, slots=True)
class LatencyCount:
    """One bucket's count for a queue, a minute and a kind (pickup or run), summed over replicas."""

    queue: str
    minute: datetime
    kind: str
    le: float
    count: int


@dataclass(frozen=True, slots=True)
class Summary:
    count: int
    p50: float | None
    p95: float | None
    p99: float | None

    @classmethod
    def of(cls, counts: Mapping[float, int]) -> Summary:
        return cls(sum(counts.values()), quantile(counts, 0.5), quantile(counts, 0.95), quantile(counts, 0.99))


@dataclass(frozen=True, slots=True)
class MinuteLatency:
    queue: str
    minute: datetime
    pickup: Summary
    run: Summary


def summarise(found: list[LatencyCount]) -> list[MinuteLatency]:
    """The counts grouped by queue and minute, each with its two summaries; by minute, then queue."""
    groups: dict[tuple[datetime, str], dict[str, dict[float, int]]] = {}
    for c in found:
        kinds = groups.setdefault((c.minute, c.queue), {PICKUP: {}, RUN: {}})
        bucket = kinds.setdefault(c.kind, {})
        bucket[c.le] = bucket.get(c.le, 0) + c.count
    return [MinuteLatency(queue, minute, Summary.of(kinds[PICKUP]), Summary.of(kinds[RUN]))
            for (minute, queue), kinds in sorted(groups.items())]
