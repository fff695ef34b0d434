"""What Enqueue does with payloads when object storage is configured: inline payloads over the
threshold become objects; references are checked (an upload of this broker's, there, of the
declared size and SHA-256)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from broker.entities.errors import InvalidArgument
from broker.entities.payload import PayloadRef, StorageRules
from broker.usecases.payloads.create_upload import new_key
from broker.usecases.payloads.ports import NoPayloadEvents, ObjectStorage, PayloadEvents, UploadRecord, UploadRecords
from broker.usecases.ports import NewJob


class PreparePayloads:
    """Offloads large inline payloads and checks references, before any job is inserted."""

    def __init__(self, storage: ObjectStorage, records: UploadRecords, rules: StorageRules, prefix: str,
                 events: PayloadEvents = NoPayloadEvents()) -> None:
        self._storage, self._records, self._rules, self._prefix = storage, records, rules, prefix
        self._events = events

    async def __call__(self, jobs: Sequence[NewJob], field: Callable[[int], str], now: datetime) -> list[NewJob]:
        """`field(i)` names job i's fields (`job.` or `jobs[i].`) in errors."""
        refs = {i: j.payload_ref for i, j in enumerate(jobs) if j.payload_ref is not None}
        if refs:
            await self._check(refs, field)
        big = [i for i, j in enumerate(jobs) if len(j.payload) > self._rules.offload_threshold]
        if not big:
            return list(jobs)
        out = list(jobs)
        offloaded = await asyncio.gather(*(self._offload(jobs[i].payload, now) for i in big))
        for i, ref in zip(big, offloaded):
            out[i] = dataclasses.replace(jobs[i], payload=b"", payload_ref=ref)
        self._events.objects("offloaded", len(big))
        return out

    async def _offload(self, payload: bytes, now: datetime) -> PayloadRef:
        ref = PayloadRef(new_key(self._prefix), len(payload), hashlib.sha256(payload).hexdigest())
        # Recorded first: an object is never in the bucket without the record that deletes it.
        await self._records.add(UploadRecord(ref.key, ref.size, ref.sha256, True,
                                             now + timedelta(seconds=self._rules.upload_ttl)), now)
        await self._storage.put(ref.key, payload)
        return ref

    async def _check(self, refs: dict[int, PayloadRef], field: Callable[[int], str]) -> None:
        known = await self._records.find(sorted({r.key for r in refs.values()}))
        unverified: dict[str, int] = {}
        for i, ref in refs.items():
            at = field(i) + "payload_ref."
            record = known.get(ref.key)
            if record is None:
                raise InvalidArgument(at + "key", "names no upload of this broker (CreateUpload makes them)")
            if record.size != ref.size or record.sha256 != ref.sha256:
                raise InvalidArgument(at + "size" if record.size != ref.size else at + "sha256",
                                      "differs from what the upload declared")
            if not record.verified:
                unverified.setdefault(ref.key, i)
        await asyncio.gather(*(self._verify(refs[i], field(i) + "payload_ref.") for i in unverified.values()))

    async def _verify(self, ref: PayloadRef, at: str) -> None:
        """The object is there with the declared size and bytes (read once; recorded after)."""
        info = await self._storage.head(ref.key)
        if info is None:
            raise InvalidArgument(at + "key", "no object: upload it to the URL CreateUpload gave first")
        if info.size != ref.size:
            raise InvalidArgument(at + "size", f"the object holds {info.size} bytes, not {ref.size}")
        digest = info.sha256 or await self._storage.digest(ref.key)
        if digest != ref.sha256:
            raise InvalidArgument(at + "sha256", f"the object's SHA-256 is {digest}, not the one declared")
        await self._records.mark_verified(ref.key)
