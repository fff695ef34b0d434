"""Medians, ranges and percentiles of repeated measurements."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(values: Sequence[float]) -> dict:
    """Median, min and max of the runs, and the runs themselves."""
    clean = [v for v in values if v == v]  # drop nan
    if not clean:
        return {"median": None, "min": None, "max": None, "runs": list(values)}
    return {"median": statistics.median(clean), "min": min(clean), "max": max(clean),
            "runs": [round(v, 6) for v in values]}
