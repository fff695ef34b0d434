"""AdminService requests from the admin clients' arguments (sync and asyncio alike), checked
before anything is sent."""

from __future__ import annotations

from collections.abc import Iterable

from ..v1 import admin_service_pb2 as pb
from ..v1 import job_pb2
from .records import JobState

StateArg = JobState | str | None
JobIds = str | Iterable[str]

STATE_TO_WIRE = {JobState.PENDING: job_pb2.JOB_STATE_PENDING, JobState.RUNNING: job_pb2.JOB_STATE_RUNNING,
                 JobState.SUCCEEDED: job_pb2.JOB_STATE_SUCCEEDED, JobState.DEAD: job_pb2.JOB_STATE_DEAD,
                 JobState.CANCELLED: job_pb2.JOB_STATE_CANCELLED}


def state_to_wire(state: StateArg) -> int:
    """A JobState (or its name, any case) as the wire enum; None is UNSPECIFIED (any state)."""
    if state is None:
        return job_pb2.JOB_STATE_UNSPECIFIED
    try:
        return STATE_TO_WIRE[JobState(state.lower() if isinstance(state, str) else state)]
    except ValueError:
        raise ValueError(f"unknown job state {state!r}; one of {', '.join(s.value for s in JobState)}") from None


def _ids(job_ids: JobIds, queue: str | None) -> list[str]:
    ids = [job_ids] if isinstance(job_ids, str) else list(job_ids)
    if bool(ids) == bool(queue):
        raise ValueError("give job ids or a queue, not both or neither")
    return ids


def get_request(job_id: str) -> pb.GetJobRequest:
    return pb.GetJobRequest(job_id=job_id)


def list_request(queue: str | None, state: StateArg, page_size: int, page_token: str) -> pb.ListJobsRequest:
    return pb.ListJobsRequest(queue=queue or "", state=state_to_wire(state), page_size=page_size,
                              page_token=page_token)


def stats_request(queues: Iterable[str]) -> pb.StatsRequest:
    return pb.StatsRequest(queues=[queues] if isinstance(queues, str) else list(queues))


def cancel_request(job_id: str) -> pb.CancelJobRequest:
    return pb.CancelJobRequest(job_id=job_id)


def redrive_request(job_ids: JobIds, queue: str | None, reset_attempts: bool) -> pb.RedriveJobsRequest:
    return pb.RedriveJobsRequest(job_ids=_ids(job_ids, queue), queue=queue or "", reset_attempts=reset_attempts)


def purge_request(job_ids: JobIds, queue: str | None, state: StateArg) -> pb.PurgeJobsRequest:
    return pb.PurgeJobsRequest(job_ids=_ids(job_ids, queue), queue=queue or "", state=state_to_wire(state))
