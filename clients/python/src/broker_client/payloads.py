"""Large payloads: objects in the broker's S3-compatible storage, reached by pre-signed URLs.

A producer uploads (``Client.upload``) and enqueues the returned ``PayloadRef``; a worker's job
then carries a pre-signed GET URL, and ``JobContext.read_payload`` / ``save_payload`` fetch it,
streaming, and check its SHA-256. URLs are secrets scoped to one object: never log them.
Plain HTTP (the standard library) is all this needs: no AWS SDK on the client side.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .v1 import job_pb2

CHUNK = 1024 * 1024
TIMEOUT = 60.0


class PayloadMismatch(Exception):
    """The object's bytes are not the ones the job's reference declares (size or SHA-256)."""


@dataclass(frozen=True)
class PayloadRef:
    """A payload kept as an object: what a job holds instead of the bytes."""

    key: str
    size: int
    sha256: str

    def to_proto(self) -> job_pb2.PayloadRef:
        return job_pb2.PayloadRef(key=self.key, size=self.size, sha256=self.sha256)

    @classmethod
    def from_proto(cls, ref: job_pb2.PayloadRef) -> PayloadRef:
        return cls(ref.key, ref.size, ref.sha256)


def digest(source: bytes | str | os.PathLike) -> tuple[int, str]:
    """(size, SHA-256 hex) of bytes or of a file, read in chunks."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return len(source), hashlib.sha256(source).hexdigest()
    sha, size = hashlib.sha256(), 0
    with open(source, "rb") as f:
        while chunk := f.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def put(url: str, headers: dict[str, str], body: bytes | BinaryIO, size: int) -> None:
    """PUT one object (or part) to its pre-signed URL; a file is streamed, not read whole."""
    request = urllib.request.Request(url, data=body, method="PUT",
                                     headers={**headers, "Content-Length": str(size)})
    with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
        response.read()


def parts(path: str | os.PathLike, part_size: int) -> Iterator[tuple[int, bytes]]:
    """(number from 1, bytes) of each part of a file; one part in memory at a time."""
    with open(path, "rb") as f:
        n = 1
        while chunk := f.read(part_size):
            yield n, chunk
            n += 1


def fetch(url: str, ref: PayloadRef, into: BinaryIO) -> None:
    """Stream the object into `into`, checking its size and SHA-256 (PayloadMismatch)."""
    sha, size = hashlib.sha256(), 0
    with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
        while chunk := response.read(CHUNK):
            sha.update(chunk)
            size += len(chunk)
            into.write(chunk)
    if size != ref.size or sha.hexdigest() != ref.sha256:
        raise PayloadMismatch(f"payload {ref.key}: got {size} bytes with SHA-256 {sha.hexdigest()}, "
                              f"expected {ref.size} bytes with {ref.sha256}")


def save(url: str, ref: PayloadRef, path: str | os.PathLike) -> Path:
    """Stream the object to `path`, which appears only once the bytes checked out."""
    target = Path(path)
    partial = target.with_name(target.name + ".part")
    try:
        with open(partial, "wb") as f:
            fetch(url, ref, f)
        shutil.move(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
