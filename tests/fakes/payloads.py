"""In-memory object storage and upload records, for unit tests of the payload interactors (the
real ones are tested against moto and PostgreSQL: tests/e2e/test_payload*.py,
tests/integration/test_payload_records.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timezone

from broker.usecases.payloads.ports import ObjectInfo, Presigned, UploadRecord


class MemoryStorage:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.multipart: dict[str, dict[int, bytes]] = {}
        self.calls: list[str] = []
        self.largest_part = 0
        self.fail_delete = False

    def presign_put(self, key: str, size: int, ttl: float) -> Presigned:
        return Presigned(f"memory://put/{key}?ttl={int(ttl)}", {})

    def presign_get(self, key: str, ttl: float) -> str:
        return f"memory://get/{key}?ttl={int(ttl)}"

    def presign_part(self, key: str, upload_id: str, number: int, ttl: float) -> str:
        return f"memory://part/{key}/{number}"

    async def head(self, key: str) -> ObjectInfo | None:
        self.calls.append("head")
        data = self.objects.get(key)
        return None if data is None else ObjectInfo(len(data), None)

    async def digest(self, key: str) -> str:
        self.calls.append("digest")
        return hashlib.sha256(self.objects[key]).hexdigest()

    async def put(self, key: str, data: bytes) -> None:
        self.calls.append("put")
        self.objects[key] = data

    async def delete(self, keys: Sequence[str]) -> None:
        if self.fail_delete:
            raise OSError("storage away")
        for k in keys:
            self.objects.pop(k, None)

    async def start_multipart(self, key: str) -> str:
        self.multipart[key] = {}
        return f"upload-{key}"

    async def put_part(self, key: str, upload_id: str, number: int, data: bytes) -> str:
        self.largest_part = max(self.largest_part, len(data))
        self.multipart[key][number] = bytes(data)  # the caller reuses its buffer
        return f"etag-{number}"

    async def complete_multipart(self, key: str, upload_id: str, etags: Sequence[str] | None) -> None:
        parts = self.multipart.pop(key)
        self.objects[key] = b"".join(parts[n] for n in sorted(parts))

    async def abort_multipart(self, key: str, upload_id: str) -> None:
        self.multipart.pop(key, None)


class MemoryRecords:
    def __init__(self) -> None:
        self.records: dict[str, UploadRecord] = {}

    async def add(self, record: UploadRecord, now: datetime) -> None:
        self.records[record.key] = record

    async def find(self, keys: Sequence[str]) -> dict[str, UploadRecord]:
        return {k: self.records[k] for k in keys if k in self.records}

    async def mark_verified(self, key: str) -> None:
        r = self.records[key]
        self.records[key] = UploadRecord(r.key, r.size, r.sha256, True, r.expires_at)

    async def take_collectable(self, now: datetime, limit: int) -> list[str]:
        due = [k for k, r in self.records.items() if r.expires_at is not None and r.expires_at <= now][:limit]
        for k in due:
            del self.records[k]
        return due

    async def expire_now(self, keys: Sequence[str]) -> None:
        for k in keys:
            self.records[k] = UploadRecord(k, 0, "", False, datetime.min.replace(tzinfo=timezone.utc))
