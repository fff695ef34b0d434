"""How big each scenario is: the full run (`make faults`, about 5 minutes here) and the quick
round (`--quick`, the one the test suite runs)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    rate: float            # jobs/s the producer offers while the fault plays out
    batch: int             # jobs per EnqueueBatch
    seconds: float         # how long the producer runs, per scenario
    workers: int           # SDK worker processes
    concurrency: int       # jobs per worker process at once
    lease: float           # seconds per lease (the workers ask for it)
    work_ms: float         # each handler sleeps up to this long
    kills: int             # worker kills in the kill loop
    broker_down: float     # seconds the killed replica stays down before its restart
    outage: float          # seconds PostgreSQL stays stopped
    burst: int             # concurrent unary Enqueue calls
    in_flight: int         # BROKER_MAX_IN_FLIGHT of the burst's broker
    drain_timeout: float   # the longest wait for the backlog to drain after the producer stops


FULL = Profile("full", rate=500, batch=20, seconds=40, workers=3, concurrency=20, lease=5.0, work_ms=100,
               kills=10, broker_down=2.0, outage=10.0, burst=5000, in_flight=200, drain_timeout=90)
QUICK = Profile("quick", rate=500, batch=20, seconds=3, workers=2, concurrency=20, lease=2.0, work_ms=100,
                kills=2, broker_down=0.5, outage=2.0, burst=2000, in_flight=200, drain_timeout=30)
PROFILES = {p.name: p for p in (FULL, QUICK)}
