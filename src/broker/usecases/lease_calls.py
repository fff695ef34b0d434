"""Shared checks for the calls that present leases (Heartbeat, Ack, Nack)."""

from __future__ import annotations

from collections.abc import Sequence

from broker.entities.errors import InvalidArgument
from broker.entities.job import check_job_id, check_storable
from broker.entities.lease import Fence, LeaseRef, LeaseResult, classify
from broker.entities.queue import Limits
from broker.usecases.ports import LeaseCall


def check_refs(refs: Sequence[LeaseRef], limits: Limits, field_name: str) -> None:
    limits.check_batch(len(refs), field_name)
    for i, ref in enumerate(refs):
        check_job_id(ref.job_id, f"{field_name}[{i}].job_id")
        if not ref.lease_token:
            raise InvalidArgument(f"{field_name}[{i}].lease_token", "must not be empty")
        check_storable(ref.lease_token, f"{field_name}[{i}].lease_token")


def results(calls: Sequence[LeaseCall], fenced: Fence) -> list[LeaseResult]:
    """Each call classified under the fence of the operation (entities.lease.fence)."""
    return [classify(c.ref, c.changed, c.snapshot, fenced.done, c.at) for c in calls]
