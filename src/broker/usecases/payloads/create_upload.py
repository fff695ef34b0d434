"""CreateUpload: a key of the broker's for a new object, and a pre-signed URL (or, for a
multipart upload, one per part) the producer puts the bytes to without them crossing the broker."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from broker.entities.errors import InvalidArgument, Unavailable
from broker.entities.payload import UPLOADS, PayloadRef, StorageRules
from broker.usecases.payloads.ports import (NoPayloadEvents, ObjectStorage, PayloadEvents, Presigned, UploadRecord,
                                            UploadRecords)
from broker.usecases.ports import Clock

MAX_PARTS = 10_000  # S3's limit
MAX_SINGLE_PUT = 5 * 1024**3  # S3's largest object in one PUT


@dataclass(frozen=True, slots=True)
class Upload:
    """Where to put the bytes, and the reference to enqueue once they are there."""

    ref: PayloadRef
    put: Presigned | None  # a single PUT; None for a multipart upload
    upload_id: str | None = None  # multipart: give it to CompleteUpload
    part_urls: tuple[str, ...] = ()  # multipart: PUT part n (from 1) to part_urls[n-1]
    part_size: int = 0  # multipart: every part but the last has this size
    expires_at: datetime | None = None  # when the URLs stop working


def new_key(prefix: str) -> str:
    return f"{prefix}{UPLOADS}{uuid.uuid4().hex}"


class CreateUpload:
    """Makes an upload for an object of the declared size and SHA-256; Enqueue checks both."""

    def __init__(self, storage: ObjectStorage, records: UploadRecords, clock: Clock, rules: StorageRules,
                 prefix: str, events: PayloadEvents = NoPayloadEvents()) -> None:
        self._storage, self._records, self._clock = storage, records, clock
        self._rules, self._prefix, self._events = rules, prefix, events

    async def __call__(self, size: int, sha256: str, multipart: bool = False) -> Upload:
        rules = self._rules
        rules.check_upload_size(size, "size")
        if not multipart and size > MAX_SINGLE_PUT:
            raise InvalidArgument("multipart", f"{size} bytes is over S3's single-PUT limit ({MAX_SINGLE_PUT}): "
                                               "ask for a multipart upload")
        ref = PayloadRef(new_key(self._prefix), size, sha256).check("")
        now = self._clock.now()
        expires = now + timedelta(seconds=rules.url_ttl)
        if multipart:
            parts = max(1, -(-size // rules.part_size))
            if parts > MAX_PARTS:
                raise InvalidArgument("size", f"needs {parts} parts of {rules.part_size} bytes; at most {MAX_PARTS}")
            upload_id = await self._storage.start_multipart(ref.key)
            urls = tuple(self._storage.presign_part(ref.key, upload_id, n, rules.url_ttl) for n in range(1, parts + 1))
            upload = Upload(ref, None, upload_id, urls, rules.part_size, expires)
        else:
            upload = Upload(ref, self._storage.presign_put(ref.key, size, rules.url_ttl), expires_at=expires)
        await self._records.add(UploadRecord(ref.key, size, sha256, False,
                                             now + timedelta(seconds=rules.upload_ttl)), now)
        self._events.objects("created", 1)
        return upload


class CompleteUpload:
    """Joins a multipart upload's parts into its object. A repeat after a success (its answer
    lost) is OK: the storage no longer knows the upload, but the object is there, of its size."""

    def __init__(self, storage: ObjectStorage, records: UploadRecords) -> None:
        self._storage, self._records = storage, records

    async def __call__(self, key: str, upload_id: str) -> None:
        if not upload_id:
            raise InvalidArgument("upload_id", "must not be empty")
        record = (await self._records.find([key])).get(key)
        if record is None:
            raise InvalidArgument("key", "names no upload of this broker (CreateUpload makes them)")
        try:
            await self._storage.complete_multipart(key, upload_id, None)
        except Unavailable:
            found = await self._storage.head(key)
            if found is None or found.size != record.size:
                raise
