"""Large payloads: a job may hold a reference to an object in S3-compatible storage (its key,
size and SHA-256) instead of the bytes. The rules of a reference and of the storage settings
live here; the storage itself is a port (broker.usecases.payloads.ports)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from broker.entities.errors import InvalidArgument

_SHA256 = re.compile(r"[0-9a-f]{64}")
# Keys the broker makes: its prefix, then `uploads/` and a random id. A reference names one.
UPLOADS = "uploads/"
HOW_TO_CONFIGURE = ("configure object storage (BROKER_S3_BUCKET, with BROKER_S3_ENDPOINT for a "
                    "non-AWS server) to send large payloads")


@dataclass(frozen=True, slots=True)
class PayloadRef:
    """A payload kept as an object: the job holds this, never the bytes."""

    key: str
    size: int
    sha256: str  # lowercase hex

    def check(self, at: str) -> PayloadRef:
        """This reference, or InvalidArgument naming the field under `at` (e.g. `job.payload_ref.`)."""
        if not self.key:
            raise InvalidArgument(at + "key", "must not be empty")
        if self.size < 0:
            raise InvalidArgument(at + "size", "must not be negative")
        if not _SHA256.fullmatch(self.sha256):
            raise InvalidArgument(at + "sha256", "must be 64 lowercase hex digits (the SHA-256 of the object)")
        return self


@dataclass(frozen=True, slots=True)
class StorageRules:
    """What object storage allows, as settings say (without storage: `enabled` False)."""

    enabled: bool = False
    offload_threshold: int = 256 * 1024  # inline payloads over this go to storage
    max_upload_bytes: int = 5 * 1024**3  # an upload (by URL or streamed) is at most this
    url_ttl: float = 900.0  # pre-signed URLs live this long (a GET URL at least the lease)
    upload_ttl: float = 86400.0  # an upload no job references is deleted after this
    part_size: int = 8 * 1024 * 1024  # multipart part size (S3's least is 5 MiB)

    def check_upload_size(self, size: int, field: str) -> None:
        if size < 0:
            raise InvalidArgument(field, "must not be negative")
        if size > self.max_upload_bytes:
            raise InvalidArgument(field, f"{size} bytes is over the upload limit of {self.max_upload_bytes} "
                                         "bytes (BROKER_MAX_UPLOAD_BYTES)")

    def get_url_ttl(self, lease_duration: float) -> float:
        """A worker's URL lives at least as long as the lease it comes with (from the lease: a lease
        that heartbeats extend past it needs the payload read early, as the SDK's prefetch does)."""
        return max(self.url_ttl, lease_duration)
