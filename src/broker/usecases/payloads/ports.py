"""The ports of large payloads: the object storage (S3-compatible) and the broker's record of
the objects it made (so a reference can only name one of them, and clean-up knows what to
delete)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    size: int
    sha256: str | None  # hex, when the storage kept a whole-object SHA-256


@dataclass(frozen=True, slots=True)
class Presigned:
    """A URL for one request on one object, and the headers the request must carry."""

    url: str
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class UploadRecord:
    """An object the broker made a key for."""

    key: str
    size: int
    sha256: str  # as declared (pre-signed uploads) or as the broker computed it (streamed)
    verified: bool  # the broker has seen the object hold these bytes
    expires_at: datetime | None  # deleted after this unless a job references it; None: one does


class ObjectStorage(Protocol):
    """An S3-compatible bucket under the broker's key prefix. Pre-signed URLs are scoped to one
    object and one method; they are secrets: never log them."""

    def presign_put(self, key: str, size: int, ttl: float) -> Presigned: ...

    def presign_get(self, key: str, ttl: float) -> str: ...

    def presign_part(self, key: str, upload_id: str, number: int, ttl: float) -> str: ...

    async def head(self, key: str) -> ObjectInfo | None:
        """The object's size (and checksum when kept); None when there is none."""

    async def digest(self, key: str) -> str:
        """The SHA-256 (hex) of the object's bytes, read as a stream."""

    async def put(self, key: str, data: bytes) -> None: ...

    async def delete(self, keys: Sequence[str]) -> None:
        """Delete these objects; a missing one is not an error."""

    async def start_multipart(self, key: str) -> str:
        """A new multipart upload of `key`: its upload id."""

    async def put_part(self, key: str, upload_id: str, number: int, data: bytes | bytearray) -> str:
        """Store one part (numbered from 1): its ETag. `data` is the caller's again once this
        returns (a streamed upload reuses its buffer)."""

    async def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str] | None) -> None:
        """Join the parts (None: as the storage lists them) into the object."""

    async def abort_multipart(self, key: str, upload_id: str) -> None: ...


class PayloadEvents(Protocol):
    """Hears of payload objects as they come and go (the metrics count them)."""

    def objects(self, event: str, count: int) -> None:
        """`count` objects were `event`: created (CreateUpload), streamed, offloaded or deleted."""


class NoPayloadEvents:
    def objects(self, event: str, count: int) -> None:
        pass


class UploadRecords(Protocol):
    """The broker's list of the objects it made keys for (PostgreSQL). A job that references an
    object keeps it (its insert clears the expiry, atomically); a job's deletion makes its object
    collectable at once; dead jobs are kept, so their objects are."""

    async def add(self, record: UploadRecord, now: datetime) -> None: ...

    async def find(self, keys: Sequence[str]) -> dict[str, UploadRecord]: ...

    async def mark_verified(self, key: str) -> None: ...

    async def take_collectable(self, now: datetime, limit: int) -> list[str]:
        """Forget up to `limit` objects that expired and that no job references; their keys
        (the caller deletes the objects)."""

    async def expire_now(self, keys: Sequence[str]) -> None:
        """Put keys back as collectable (an object whose deletion failed)."""
