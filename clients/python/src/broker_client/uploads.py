"""How the producer clients upload a large payload: by pre-signed URL (one PUT, or parts and
CompleteUpload for a large file) so the bytes never cross the broker, or streamed through the
broker (UploadPayload) for producers that cannot reach the storage. Either way the result is the
``PayloadRef`` to enqueue as the job's payload."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator

from . import payloads
from .payloads import PayloadRef
from .v1 import job_service_pb2 as pb

# Files over this go up in parts (each PUT a part of the broker's part size).
MULTIPART_OVER = 64 * 1024 * 1024
STREAM_CHUNK = 1024 * 1024  # bytes per UploadPayload message (well under gRPC's 4 MiB)

Source = bytes | str | os.PathLike


def create_request(source: Source, multipart_over: int) -> pb.CreateUploadRequest:
    size, sha256 = payloads.digest(source)
    return pb.CreateUploadRequest(size=size, sha256=sha256, multipart=size > multipart_over)


def put_all(upload: pb.CreateUploadResponse, source: Source) -> None:
    """PUT the bytes to the URL(s) of a CreateUpload response (blocking; files are streamed)."""
    size, headers = upload.payload_ref.size, dict(upload.headers)
    if upload.url:
        if isinstance(source, (bytes, bytearray, memoryview)):
            payloads.put(upload.url, headers, bytes(source), size)
        else:
            with open(source, "rb") as f:
                payloads.put(upload.url, headers, f, size)
        return
    for n, chunk in _parts(source, upload.part_size):
        payloads.put(upload.part_urls[n - 1], {"content-type": "application/octet-stream"}, chunk, len(chunk))


def _parts(source: Source, part_size: int) -> Iterator[tuple[int, bytes]]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        view = memoryview(source)
        return ((i // part_size + 1, bytes(view[i:i + part_size])) for i in range(0, max(len(view), 1), part_size))
    return payloads.parts(source, part_size)


def complete_request(upload: pb.CreateUploadResponse) -> pb.CompleteUploadRequest | None:
    if upload.url:
        return None
    return pb.CompleteUploadRequest(key=upload.payload_ref.key, upload_id=upload.upload_id)


def stream_messages(source: Source) -> Iterator[pb.UploadPayloadRequest]:
    """UploadPayload's messages for bytes or a file; a fresh iterator per call (so a retry
    sends everything again), the SHA-256 declared in the first message."""
    _, sha256 = payloads.digest(source)
    opened = io.BytesIO(bytes(source)) if isinstance(source, (bytes, bytearray, memoryview)) else open(source, "rb")
    with opened as f:
        yield pb.UploadPayloadRequest(data=f.read(STREAM_CHUNK), sha256=sha256)
        while chunk := f.read(STREAM_CHUNK):
            yield pb.UploadPayloadRequest(data=chunk)


def ref(message) -> PayloadRef:
    return PayloadRef.from_proto(message.payload_ref)
