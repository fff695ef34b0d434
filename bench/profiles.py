"""How big each scenario is: `full` (make bench, ~8-10 min) and `quick` (make bench-quick, ~1 min)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    runs: int
    # Enqueue: jobs sent per variant and run.
    enqueue_single: int
    enqueue_concurrent: int
    enqueue_batch: int
    # Drain: ready jobs processed per run; slower peers get fewer (their rate is what counts).
    drain_jobs: int
    drain_jobs_c10: int  # concurrency 10 leases 10 jobs a call: fewer jobs keep the run short
    drain_jobs_claim1: int
    drain_jobs_slow_peer: int
    drain_configs: tuple[tuple, ...]  # (concurrency, worker processes[, "unary" | "node"])
    # Pickup latency: jobs, 10 ms apart.
    latency_jobs: int
    # Steady state: offered jobs/s and seconds.
    steady_rate: int
    steady_seconds: float
    # Crash recovery: leases held by the killed worker, and its lease duration.
    crash_jobs: int
    crash_lease: float
    # Large payloads: bytes of the streamed upload, jobs enqueued by reference (and inline).
    payload_upload_bytes: int = 1024 * 1024 * 1024
    payload_enqueue_jobs: int = 10_000


FULL = Profile(
    name="full", runs=3,
    enqueue_single=1500, enqueue_concurrent=4000, enqueue_batch=40_000,
    drain_jobs=20_000, drain_jobs_c10=5_000, drain_jobs_claim1=2_000, drain_jobs_slow_peer=2_000,
    # c=200 is not in the list: it shows what leasing 200 jobs a call buys (the peers
    # get their best batch setting too). "unary": the same workers with one RPC per call
    # instead of a WorkerSession, for comparison; "controls": the queue's concurrency limit and
    # rate limit in force (drain.CONTROLS). Cost figures stay at c=100 x2 (drain.COST_CONFIG).
    drain_configs=((10, 1), (10, 2), (100, 1), (100, 2), (200, 2), (10, 2, "unary"), (100, 2, "unary"),
                   (100, 2, "node"), (100, 2, "controls")),
    latency_jobs=400,
    steady_rate=1000, steady_seconds=15.0,
    crash_jobs=100, crash_lease=5.0,
)

QUICK = Profile(
    name="quick", runs=1,
    enqueue_single=300, enqueue_concurrent=1000, enqueue_batch=10_000,
    drain_jobs=5_000, drain_jobs_c10=2_000, drain_jobs_claim1=500, drain_jobs_slow_peer=300,
    drain_configs=((100, 2), (100, 2, "node"), (100, 2, "controls")),
    latency_jobs=100,
    steady_rate=500, steady_seconds=4.0,
    crash_jobs=100, crash_lease=2.0,
    payload_upload_bytes=256 * 1024 * 1024,
)

PROFILES = {p.name: p for p in (FULL, QUICK)}
