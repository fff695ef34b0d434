"""Large payloads, against a real S3-compatible server (moto in server mode, in its own process):

- a streamed upload (UploadPayload, 1 MiB messages) of `payload_upload_bytes` (1 GiB in the full
  profile) through the broker: the broker's peak resident memory during the upload over its idle
  resident memory just before (sampled every 20 ms from /proc; the target: within 64 MiB);
- EnqueueBatch of `payload_enqueue_jobs` jobs (100 per call, 4 in flight) whose payloads are
  references (to 1,000 objects uploaded through the broker first, ten jobs each), against the
  same number of inline 100-byte jobs (the target: within 20 %).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
import time
import uuid

import boto3
from botocore.config import Config

from bench import procs
from bench.broker_side import batch_request, broker_under_test, run_in_flight
from bench.payload import KIND, QUEUE
from bench.profiles import Profile
from bench.results import Figure, Results
from broker_client.v1 import job_pb2, job_service_pb2 as pb

MIB = 1024 * 1024
OBJECTS = 1000


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Moto:
    """moto's S3 server in a process of its own (its memory is not the broker's)."""

    def __init__(self) -> None:
        self.port = procs.free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.child = procs.Child("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)])
        self.bucket = f"bench-{uuid.uuid4().hex[:8]}"

    def start(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client().create_bucket(Bucket=self.bucket)
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", aws_access_key_id="bench",
                            aws_secret_access_key="bench", config=Config(signature_version="s3v4"))

    def env(self) -> dict:
        return {"BROKER_S3_ENDPOINT": self.endpoint, "BROKER_S3_BUCKET": self.bucket,
                "BROKER_S3_ACCESS_KEY_ID": "bench", "BROKER_S3_SECRET_ACCESS_KEY": "bench",
                "BROKER_MAX_UPLOAD_BYTES": str(2 * 1024 * MIB)}

    def stop(self) -> None:
        self.child.stop()


def _messages(total: int):
    """`total` bytes in 1 MiB messages, made as they are sent (the client holds one at a time)."""
    block = os.urandom(MIB)
    for i in range(0, total, MIB):
        yield pb.UploadPayloadRequest(data=block[: min(MIB, total - i)])


async def _upload_rss(but, total: int) -> tuple[float, float, float]:
    """(peak over idle MiB, idle MiB, MB/s) of one streamed upload."""
    await asyncio.sleep(0.5)
    idle = _rss_mb(but.broker.pid)
    peak, done = idle, asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _rss_mb(but.broker.pid))
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    t0 = time.perf_counter()
    response = await but.stub.UploadPayload(_messages(total), timeout=1800)
    elapsed = time.perf_counter() - t0
    done.set()
    await sampler
    assert response.payload_ref.size == total
    return peak - idle, idle, total / elapsed / 1e6


async def _refs(but, n: int) -> list[job_pb2.PayloadRef]:
    async def one(i: int) -> job_pb2.PayloadRef:
        data = f"object {i} ".encode() * 10
        reply = await but.stub.UploadPayload(iter([pb.UploadPayloadRequest(data=data)]), timeout=60)
        assert reply.payload_ref.sha256 == hashlib.sha256(data).hexdigest()
        return reply.payload_ref
    refs = []
    for i in range(0, n, 20):
        refs += await asyncio.gather(*(one(j) for j in range(i, min(i + 20, n))))
    return refs


async def _enqueue_rate(but, requests: list) -> float:
    t0 = time.perf_counter()
    await run_in_flight(but.stub.EnqueueBatch, requests, 4)
    elapsed = time.perf_counter() - t0
    await but.conn.execute("DELETE FROM broker_jobs")  # the trigger releases the objects; nothing collects them here
    return sum(len(r.jobs) for r in requests) / elapsed


async def run(profile: Profile, results: Results, keep_db: bool = False) -> None:
    moto = Moto()
    try:
        await asyncio.to_thread(moto.start)
        async with broker_under_test("payloads", keep_db, moto.env()) as but:
            runs = [await _upload_rss(but, profile.payload_upload_bytes) for _ in range(profile.runs)]
            size = f"{profile.payload_upload_bytes / 1024 / MIB:g} GiB" if profile.payload_upload_bytes >= 1024 * MIB \
                else f"{profile.payload_upload_bytes / MIB:g} MiB"
            results.add(Figure("payloads", "payload-upload-rss", "broker", f"{size} streamed (UploadPayload)",
                               "MiB over idle", [r[0] for r in runs], higher_is_better=False,
                               details=[{"idle_mib": r[1], "mb_per_s": r[2]} for r in runs]))
            n = profile.payload_enqueue_jobs
            refs = await _refs(but, OBJECTS)
            by_ref = [pb.EnqueueBatchRequest(jobs=[job_pb2.JobSpec(queue=QUEUE, kind=KIND, payload_ref=refs[j % OBJECTS])
                                                   for j in range(i, i + 100)]) for i in range(0, n, 100)]
            inline = [batch_request(range(i, i + 100)) for i in range(0, n, 100)]
            await _enqueue_rate(but, inline[:10])  # warm the channel and the plans
            pairs = [(await _enqueue_rate(but, inline), await _enqueue_rate(but, by_ref)) for _ in range(profile.runs)]
            results.add(Figure("payloads", "payload-enqueue-inline", "broker", f"{n} inline jobs, 100/RPC x4",
                               "jobs/s", [p[0] for p in pairs]))
            results.add(Figure("payloads", "payload-enqueue-refs", "broker",
                               f"{n} jobs by reference ({OBJECTS} objects), 100/RPC x4", "jobs/s", [p[1] for p in pairs]))
    finally:
        moto.stop()
