"""The worker's calls, with its identity, metadata and deadlines filled in."""

from __future__ import annotations

from collections.abc import Sequence

import grpc
from google.protobuf import duration_pb2

from ..options import ConnectionOptions
from ..v1 import job_service_pb2 as pb
from ..v1 import job_service_pb2_grpc


# The error of a snooze that a broker without Snooze took as a nack.
SNOOZED_ON_AN_OLD_BROKER = "snoozed (this broker has no Snooze: nacked with retry_after, an attempt used)"


def duration(seconds: float) -> duration_pb2.Duration:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


class WorkerRpc:
    """Lease, Heartbeat, Ack, Nack and Snooze for one worker. No retries here: the loops that call
    these decide (they keep going while the broker is away)."""

    def __init__(self, stub: job_service_pb2_grpc.JobServiceStub, options: ConnectionOptions,
                 worker_id: str, queues: Sequence[str], lease_duration: float | None = None) -> None:
        self._stub = stub
        self._timeout = options.timeout
        self._metadata = options.call_metadata()
        self.worker_id = worker_id
        self.queues = list(queues)
        self.lease_duration = lease_duration

    async def lease(self, max_jobs: int, wait: float) -> Sequence[pb.LeasedJob]:
        """Up to ``max_jobs`` jobs; holds up to ``wait`` seconds when none is ready."""
        # The long poll may use all of `wait`; the deadline covers it plus an ordinary call.
        response = await self._stub.Lease(self.lease_request(max_jobs, wait), timeout=wait + self._timeout,
                                          metadata=self._metadata)
        return list(response.jobs)

    async def heartbeat(self, refs: Sequence[pb.LeaseRef],
                        items: Sequence[pb.HeartbeatItem] = ()) -> Sequence[pb.LeaseResult]:
        """The results of ``refs``, then of ``items`` (leases with progress)."""
        response = await self._stub.Heartbeat(self.heartbeat_request(refs, items), timeout=self._timeout,
                                              metadata=self._metadata)
        return list(response.results)

    async def ack(self, refs: Sequence[AckRef]) -> Sequence[pb.LeaseResult]:
        """``refs``: (job id, lease token) pairs, or (job id, lease token, result or None)."""
        response = await self._stub.Ack(ack_request(refs), timeout=self._timeout, metadata=self._metadata)
        return list(response.results)

    async def nack(self, items: Sequence[pb.NackItem]) -> Sequence[pb.LeaseResult]:
        response = await self._stub.Nack(pb.NackRequest(items=items), timeout=self._timeout,
                                         metadata=self._metadata)
        return list(response.results)

    async def snooze(self, items: Sequence[pb.SnoozeItem]) -> Sequence[pb.LeaseResult]:
        """A broker older than Snooze (UNIMPLEMENTED) gets a Nack with ``retry_after`` instead:
        the job runs again after the delay, but that attempt counts."""
        try:
            response = await self._stub.Snooze(pb.SnoozeRequest(items=items), timeout=self._timeout,
                                               metadata=self._metadata)
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            return await self.nack([pb.NackItem(lease=i.lease, error=SNOOZED_ON_AN_OLD_BROKER, retry_after=i.delay)
                                    for i in items])
        return list(response.results)

    async def close(self) -> None:
        """Nothing to release: each call stands alone."""

    def lease_request(self, max_jobs: int, wait: float) -> pb.LeaseRequest:
        request = pb.LeaseRequest(queues=self.queues, worker_id=self.worker_id, max_jobs=max_jobs)
        if wait > 0:
            request.wait.CopyFrom(duration(wait))
        if self.lease_duration is not None:
            request.lease_duration.CopyFrom(duration(self.lease_duration))
        return request

    def heartbeat_request(self, refs: Sequence[pb.LeaseRef],
                          items: Sequence[pb.HeartbeatItem] = ()) -> pb.HeartbeatRequest:
        request = pb.HeartbeatRequest(leases=refs, items=items)
        if self.lease_duration is not None:
            request.lease_duration.CopyFrom(duration(self.lease_duration))
        return request


AckRef = tuple[str, str] | tuple[str, str, bytes | None]


def ack_request(refs: Sequence[AckRef]) -> pb.AckRequest:
    """Plain ``leases`` when no job has a result (what every broker understands); else every
    ref as an ``item``, so the results come back in the refs' order."""
    request = pb.AckRequest()
    if any(len(r) > 2 and r[2] is not None for r in refs):
        add_item = request.items.add
        for ref in refs:
            result = ref[2] if len(ref) > 2 else None
            item = add_item(result=result or b"")
            item.lease.job_id, item.lease.lease_token = ref[0], ref[1]
        return request
    add = request.leases.add
    for ref in refs:
        add(job_id=ref[0], lease_token=ref[1])
    return request
