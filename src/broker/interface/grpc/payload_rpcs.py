"""JobService's large-payload RPCs: CreateUpload, CompleteUpload, UploadPayload (a client
stream passed on to the storage part by part). Only translation: the rules are the use cases'."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from broker.entities.errors import FailedPrecondition, InvalidArgument
from broker.entities.payload import HOW_TO_CONFIGURE
from broker.interface.grpc import mapping
from broker.interface.grpc.interceptors.base import Malformed
from broker.usecases.payloads.collect import CollectPayloads
from broker.usecases.payloads.create_upload import CompleteUpload, CreateUpload
from broker.usecases.payloads.prepare import PreparePayloads
from broker.usecases.payloads.stream_upload import StreamUpload
from broker.usecases.payloads.urls import PayloadUrls
from broker.v1 import job_pb2
from broker.v1 import job_service_pb2 as pb


@dataclass(frozen=True)
class PayloadUseCases:
    create: CreateUpload
    complete: CompleteUpload
    stream: StreamUpload
    urls: PayloadUrls
    prepare: PreparePayloads  # Enqueue's step
    collect: CollectPayloads  # the collector's pass (serve runs it)


class NoStorage(FailedPrecondition):
    """Object storage is not configured."""

    def __init__(self) -> None:
        super().__init__(f"object storage is not configured: {HOW_TO_CONFIGURE}")


class PayloadRpcs:
    """Mixed into JobService; `_payloads` is None without object storage."""

    _payloads: PayloadUseCases | None

    def _storage(self) -> PayloadUseCases:
        if self._payloads is None:
            raise NoStorage()
        return self._payloads

    async def CreateUpload(self, request: pb.CreateUploadRequest, context) -> pb.CreateUploadResponse:
        upload = await self._storage().create(request.size, request.sha256, request.multipart)
        out = pb.CreateUploadResponse(upload_id=upload.upload_id or "", part_urls=upload.part_urls,
                                      part_size=upload.part_size)
        mapping.ref_to_wire(upload.ref, out.payload_ref)
        if upload.put is not None:
            out.url = upload.put.url
            out.headers.update(upload.put.headers)
        mapping.set_time(out.expires_at, upload.expires_at)
        return out

    async def CompleteUpload(self, request: pb.CompleteUploadRequest, context) -> pb.CompleteUploadResponse:
        await self._storage().complete(request.key, request.upload_id)
        return pb.CompleteUploadResponse()

    async def UploadPayload(self, request_iterator, context) -> pb.UploadPayloadResponse:
        declared: list[str] = []
        ref = await self._storage().stream(_chunks(request_iterator, declared), "data",
                                           lambda: declared[-1] if declared else None)
        return pb.UploadPayloadResponse(payload_ref=mapping.ref_to_wire(ref, job_pb2.PayloadRef()))

    def payload_url(self, job, lease_duration: float | None) -> str:
        if self._payloads is None or job.payload_ref is None:
            return ""
        return self._payloads.urls(job, lease_duration)


async def _chunks(requests, declared: list[str]) -> AsyncIterator[bytes]:
    async for message in requests:
        if isinstance(message, Malformed):
            raise InvalidArgument("data", "a message of the stream did not parse")
        if message.sha256:
            declared.append(message.sha256)
        if message.data:
            yield message.data
