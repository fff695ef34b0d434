"""Shared checks for the calls that present leases (Heartbeat, Ack, Nack, Snooze)."""

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
        check_ref(ref, f"{field_name}[{i}]")


def check_ref(ref: LeaseRef, at: str) -> None:
    """One lease reference, its fields named under `at` (e.g. `leases[0]`, `items[2].lease`)."""
    check_job_id(ref.job_id, f"{at}.job_id")
    if not ref.lease_token:
        raise InvalidArgument(f"{at}.lease_token", "must not be empty")
    check_storable(ref.lease_token, f"{at}.lease_token")


def check_items(refs: Sequence[LeaseRef], limits: Limits) -> None:
    """A call of `items` only (Nack, Snooze): each item's lease is checked as `items[i].lease`,
    the path of its fields on the wire."""
    limits.check_batch(len(refs), "items")
    for i, ref in enumerate(refs):
        check_ref(ref, f"items[{i}].lease")


def check_with_items(refs: Sequence[LeaseRef], item_refs: Sequence[LeaseRef], limits: Limits) -> None:
    """A call with plain `leases` and `items` (each item a lease and more): the two together are
    one batch; each item's lease is checked as `items[i].lease`."""
    limits.check_batch(len(refs) + len(item_refs), "leases")
    if refs:
        check_refs(refs, limits, "leases")
    for i, ref in enumerate(item_refs):
        check_ref(ref, f"items[{i}].lease")


def results(calls: Sequence[LeaseCall], fenced: Fence) -> list[LeaseResult]:
    """Each call classified under the fence of the operation (entities.lease.fence)."""
    return [classify(c.ref, c.changed, c.snapshot, fenced.done, c.at) for c in calls]
