"""Uploading and reading payload objects the way a client does: plain HTTP to pre-signed URLs."""

from __future__ import annotations

import asyncio
import hashlib
import urllib.request

from broker.v1 import job_pb2
from broker.v1 import job_service_pb2 as pb


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _http(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None) -> bytes:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


async def http(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None) -> bytes:
    return await asyncio.to_thread(_http, url, method, data, headers)


async def put(upload: pb.CreateUploadResponse, data: bytes) -> None:
    await http(upload.url, "PUT", data, dict(upload.headers))


async def uploaded(jobs, data: bytes, declared: bytes | None = None) -> job_pb2.PayloadRef:
    """CreateUpload for `declared` (default: the bytes), then PUT `data` to its URL."""
    declared = data if declared is None else declared
    upload = await jobs.CreateUpload(pb.CreateUploadRequest(size=len(declared), sha256=sha(declared)))
    await put(upload, data)
    return upload.payload_ref


def with_ref(queue: str, ref: job_pb2.PayloadRef, **fields) -> job_pb2.JobSpec:
    return job_pb2.JobSpec(queue=queue, kind="file", payload_ref=ref, **fields)
