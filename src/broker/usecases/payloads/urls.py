"""Workers' URLs: a pre-signed GET for each leased job whose payload is a reference."""

from __future__ import annotations

from broker.entities.job import Job
from broker.entities.payload import StorageRules
from broker.usecases.payloads.ports import ObjectStorage


class PayloadUrls:
    """A GET URL for one job's object, living at least as long as its lease (signed locally: no
    call to the storage)."""

    def __init__(self, storage: ObjectStorage, rules: StorageRules) -> None:
        self._storage, self._rules = storage, rules

    def __call__(self, job: Job, lease_duration: float | None = None) -> str:
        if job.payload_ref is None:
            return ""
        ttl = self._rules.get_url_ttl(lease_duration or job.lease_duration)
        return self._storage.presign_get(job.payload_ref.key, ttl)
