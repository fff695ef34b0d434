"""The large-payload part of the build step: the object storage's interactors, wired to the
storage and its records (kept apart from build.py, which holds the rest of the broker)."""

from __future__ import annotations

from dataclasses import dataclass

from broker.infra.storage_settings import StorageSettings
from broker.interface.grpc.payload_rpcs import PayloadUseCases
from broker.usecases.payloads.collect import CollectPayloads
from broker.usecases.payloads.create_upload import CompleteUpload, CreateUpload
from broker.usecases.payloads.ports import NoPayloadEvents, ObjectStorage, PayloadEvents, UploadRecords
from broker.usecases.payloads.prepare import PreparePayloads
from broker.usecases.payloads.stream_upload import StreamUpload
from broker.usecases.payloads.urls import PayloadUrls
from broker.usecases.ports import Clock


@dataclass(frozen=True)
class PayloadParts:
    """The object storage and its records: both required with BROKER_S3_BUCKET."""

    storage: ObjectStorage | None = None
    uploads: UploadRecords | None = None


def payload_use_cases(s: StorageSettings, parts: PayloadParts, clock: Clock,
                      events: PayloadEvents | None) -> PayloadUseCases | None:
    """The large-payload interactors; None without object storage. `events` hears of objects."""
    if not s.enabled:
        return None
    storage, uploads = parts.storage, parts.uploads
    if storage is None or uploads is None:
        raise ValueError("build: BROKER_S3_BUCKET is set but no object storage or upload records were given")
    events = events or NoPayloadEvents()
    return PayloadUseCases(
        create=CreateUpload(storage, uploads, clock, s.rules, s.prefix, events),
        complete=CompleteUpload(storage, uploads), urls=PayloadUrls(storage, s.rules),
        stream=StreamUpload(storage, uploads, clock, s.rules, s.prefix, events),
        prepare=PreparePayloads(storage, uploads, s.rules, s.prefix, events),
        collect=CollectPayloads(storage, uploads, clock, events=events))
