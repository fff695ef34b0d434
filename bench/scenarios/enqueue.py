"""Enqueue throughput through the broker: one job per Enqueue RPC (1 and 32 in flight),
EnqueueBatch of 100 (4 in flight), and a web tier: 64 callers each sending one job per call,
with each call's latency. Raw generated stubs with prebuilt requests and no idempotency key, so
the client costs little of the two cores (the SDK adds a key per job)."""

from __future__ import annotations

import asyncio
import time

from bench.baselines.common import latency_figures
from bench.broker_side import batch_request, broker_under_test, run_in_flight, spec
from bench.profiles import Profile
from bench.results import Figure, Results
from broker_client.v1 import job_service_pb2 as pb


async def rate(but, requests: list, jobs: int, in_flight: int, method) -> tuple[float, float]:
    """(jobs/s, broker CPU s per 1,000 jobs)"""
    cpu = but.broker.cpu()
    t0 = time.perf_counter()
    await run_in_flight(method, requests, in_flight)
    elapsed = time.perf_counter() - t0
    used = but.broker.cpu() - cpu
    await but.reset()
    return jobs / elapsed, used / jobs * 1000


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    async with broker_under_test("enqueue", keep_db) as but:
        stub = but.stub
        cases = [
            ("enqueue-1x1", "1 job/RPC, 1 in flight", stub.Enqueue, 1, profile.enqueue_single,
             [pb.EnqueueRequest(job=spec(n)) for n in range(profile.enqueue_single)]),
            ("enqueue-1x32", "1 job/RPC, 32 in flight", stub.Enqueue, 32, profile.enqueue_concurrent,
             [pb.EnqueueRequest(job=spec(n)) for n in range(profile.enqueue_concurrent)]),
            ("enqueue-100x4", "100 jobs/RPC, 4 in flight", stub.EnqueueBatch, 4, profile.enqueue_batch // 100 * 100,
             [batch_request(range(i, i + 100)) for i in range(0, profile.enqueue_batch // 100 * 100, 100)]),
        ]
        await run_in_flight(stub.Enqueue, [pb.EnqueueRequest(job=spec(0))] * 50, 4)  # warm the channel
        await but.reset()
        for group, case, method, flight, jobs, requests in cases:
            runs = [await rate(but, requests, jobs, flight, method) for _ in range(profile.runs)]
            results.add(Figure("enqueue", group, "broker", case, "jobs/s", [r[0] for r in runs],
                               details=[{"broker_cpu_per_1k": r[1]} for r in runs]))
            if group == "enqueue-100x4":
                results.add(Figure("cost", "cost-enqueue-cpu", "broker", case, "broker CPU s/1k enqueued",
                                   [r[1] for r in runs], higher_is_better=False))
        await web_tier(but, profile, results)


async def web_tier(but, profile: Profile, results: Results) -> None:
    """64 callers on one channel, one job per call: jobs/s, broker CPU, latency p50/p99."""
    case, requests = "1 job/RPC, 64 callers", [pb.EnqueueRequest(job=spec(n)) for n in range(profile.enqueue_concurrent)]
    rates, runs = [], []
    for _ in range(profile.runs):
        runs.append([])
        cpu, t0 = but.broker.cpu(), time.perf_counter()
        await run_in_flight(but.stub.Enqueue, requests, 64, runs[-1])
        rates.append((len(requests) / (time.perf_counter() - t0), (but.broker.cpu() - cpu) / len(requests) * 1000))
        await but.reset()
    results.add(Figure("enqueue", "enqueue-1x64", "broker", case, "jobs/s", [r[0] for r in rates],
                       details=[{"broker_cpu_per_1k": r[1]} for r in rates]))
    latency_figures(results, "broker", case, runs, "subject")
