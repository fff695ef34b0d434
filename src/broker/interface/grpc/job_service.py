"""JobService: translates between protobuf and the producer and worker use cases."""

from __future__ import annotations

from dataclasses import dataclass

from broker.entities.errors import InvalidArgument
from broker.interface.grpc import mapping
from broker.interface.grpc.session import WorkerSessions
from broker.usecases.ack import Ack, AckItem
from broker.usecases.enqueue import Enqueue
from broker.usecases.heartbeat import Heartbeat, HeartbeatItem
from broker.usecases.lease import LeaseJobs, LeaseRequest
from broker.usecases.nack import Nack, NackItem
from broker.usecases.snooze import Snooze, SnoozeItem
from broker.v1 import job_service_pb2 as pb
from broker.v1 import job_service_pb2_grpc


@dataclass(frozen=True)
class JobUseCases:
    enqueue: Enqueue
    lease: LeaseJobs
    heartbeat: Heartbeat
    ack: Ack
    nack: Nack
    snooze: Snooze


class JobService(job_service_pb2_grpc.JobServiceServicer):
    def __init__(self, use: JobUseCases, sessions: WorkerSessions) -> None:
        self._use, self._sessions = use, sessions

    async def WorkerSession(self, request_iterator, context) -> None:
        # Each call on the stream runs through the request pipeline to this servicer's methods.
        await self._sessions.serve(request_iterator, context, self)

    async def Enqueue(self, request: pb.EnqueueRequest, context) -> pb.EnqueueResponse:
        if not request.HasField("job"):
            raise InvalidArgument("job", "is required")
        spec = mapping.spec_from_wire(request.job, "job.")
        [result] = await self._use.enqueue([spec], batch=False)
        return pb.EnqueueResponse(job_id=result.job_id, created=result.created)

    async def EnqueueBatch(self, request: pb.EnqueueBatchRequest, context) -> pb.EnqueueBatchResponse:
        specs = [mapping.spec_from_wire(s, f"jobs[{i}].") for i, s in enumerate(request.jobs)]
        results = await self._use.enqueue(specs)
        response = pb.EnqueueBatchResponse()
        for r in results:
            response.results.add(job_id=r.job_id, created=r.created)
        return response

    async def Lease(self, request: pb.LeaseRequest, context) -> pb.LeaseResponse:
        wait = mapping.seconds(request.wait, request, "wait") or 0.0
        jobs = await self._use.lease(LeaseRequest(
            queues=tuple(request.queues), worker_id=request.worker_id, max_jobs=request.max_jobs,
            lease_duration=mapping.seconds(request.lease_duration, request, "lease_duration"), wait=wait,
        ))
        response = pb.LeaseResponse()
        for job in jobs:
            leased = response.jobs.add(lease_token=job.lease_token, attempt=job.attempt)
            mapping.job_to_wire(job, leased.job)
            mapping.set_time(leased.lease_expires_at, job.lease_expires_at)
        return response

    async def Heartbeat(self, request: pb.HeartbeatRequest, context) -> pb.HeartbeatResponse:
        duration = mapping.seconds(request.lease_duration, request, "lease_duration")
        items = [HeartbeatItem(mapping.refs_from_wire([i.lease])[0],
                               mapping.progress_from_wire(i.progress) if i.HasField("progress") else None)
                 for i in request.items]
        results = await self._use.heartbeat(mapping.refs_from_wire(request.leases), duration, items)
        response = pb.HeartbeatResponse()
        mapping.results_to_wire(results, response.results)
        return response

    async def Ack(self, request: pb.AckRequest, context) -> pb.AckResponse:
        items = [AckItem(mapping.refs_from_wire([i.lease])[0], i.result or None) for i in request.items]
        results = await self._use.ack(mapping.refs_from_wire(request.leases), items)
        response = pb.AckResponse()
        mapping.results_to_wire(results, response.results)
        return response

    async def Nack(self, request: pb.NackRequest, context) -> pb.NackResponse:
        items = []
        for i, item in enumerate(request.items):
            try:
                retry_after = mapping.seconds(item.retry_after, item, "retry_after")
            except InvalidArgument as exc:
                raise exc.at(f"items[{i}].") from None
            ref = mapping.refs_from_wire([item.lease])[0]
            items.append(NackItem(ref, item.error, item.permanent, retry_after))
        results = await self._use.nack(items)
        response = pb.NackResponse()
        mapping.results_to_wire(results, response.results)
        return response

    async def Snooze(self, request: pb.SnoozeRequest, context) -> pb.SnoozeResponse:
        items = []
        for i, item in enumerate(request.items):
            try:
                delay = mapping.seconds(item.delay, item, "delay") or 0.0
            except InvalidArgument as exc:
                raise exc.at(f"items[{i}].") from None
            items.append(SnoozeItem(mapping.refs_from_wire([item.lease])[0], delay))
        results = await self._use.snooze(items)
        response = pb.SnoozeResponse()
        mapping.results_to_wire(results, response.results)
        return response
