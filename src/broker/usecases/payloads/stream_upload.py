"""StreamUpload: for clients that cannot reach the storage, the bytes pass through the broker,
part by part into a multipart upload; at most one part is held in memory at a time."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, Callable
from datetime import timedelta

from broker.entities.errors import InvalidArgument
from broker.entities.payload import PayloadRef, StorageRules
from broker.usecases.payloads.create_upload import new_key
from broker.usecases.payloads.ports import NoPayloadEvents, ObjectStorage, PayloadEvents, UploadRecord, UploadRecords
from broker.usecases.ports import Clock


class StreamUpload:
    """Stores a stream of chunks as one object; the reference (size and SHA-256 as the broker
    counted them) is what to enqueue. Over the upload limit: InvalidArgument, nothing kept."""

    def __init__(self, storage: ObjectStorage, records: UploadRecords, clock: Clock, rules: StorageRules,
                 prefix: str, events: PayloadEvents = NoPayloadEvents()) -> None:
        self._storage, self._records, self._clock = storage, records, clock
        self._rules, self._prefix, self._events = rules, prefix, events

    async def __call__(self, chunks: AsyncIterable[bytes], field: str = "data",
                       expected_sha256: Callable[[], str | None] = lambda: None) -> PayloadRef:
        """`expected_sha256` is asked after the last chunk (a stream may declare it at the end)."""
        key, now = new_key(self._prefix), self._clock.now()
        upload_id = await self._storage.start_multipart(key)
        try:
            size, digest, etags = await self._parts(key, upload_id, chunks, field)
            expected = expected_sha256()
            if expected and digest != expected:
                raise InvalidArgument("sha256", f"the bytes' SHA-256 is {digest}, not the one declared")
            await self._records.add(UploadRecord(key, size, digest, True,
                                                 now + timedelta(seconds=self._rules.upload_ttl)), now)
            await self._storage.complete_multipart(key, upload_id, etags)
        except BaseException:
            await self._storage.abort_multipart(key, upload_id)
            raise
        self._events.objects("streamed", 1)
        return PayloadRef(key, size, digest)

    async def _parts(self, key: str, upload_id: str, chunks: AsyncIterable[bytes],
                     field: str) -> tuple[int, str, list[str]]:
        """Chunks copied into one part-sized buffer, sent when full and reused: an upload holds
        that buffer and the chunk in hand, whatever its size."""
        part_size, limit = self._rules.part_size, self._rules.max_upload_bytes
        sha, size, etags = hashlib.sha256(), 0, []
        buffer, filled = bytearray(part_size), 0
        async for chunk in chunks:
            size += len(chunk)
            if size > limit:
                raise InvalidArgument(field, f"over the upload limit of {limit} bytes (BROKER_MAX_UPLOAD_BYTES)")
            sha.update(chunk)
            view = memoryview(chunk)
            while view:
                n = min(len(view), part_size - filled)
                buffer[filled:filled + n] = view[:n]
                filled, view = filled + n, view[n:]
                if filled == part_size:
                    etags.append(await self._storage.put_part(key, upload_id, len(etags) + 1, buffer))
                    filled = 0
        if filled or not etags:  # the last part may be short (or the only, empty, one)
            etags.append(await self._storage.put_part(key, upload_id, len(etags) + 1, bytes(buffer[:filled])))
        return size, sha.hexdigest(), etags
