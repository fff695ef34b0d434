"""The jobs an operator's bulk call (redrive, purge) names: a list of ids or one queue."""

from __future__ import annotations

from collections.abc import Sequence

from broker.entities.errors import InvalidArgument
from broker.entities.job import check_job_id
from broker.entities.queue import Limits


def check_targets(job_ids: Sequence[str], queue: str | None, limits: Limits) -> list[str]:
    """The checked job ids, or [] when the call names a queue; either one, never both."""
    if bool(job_ids) == bool(queue):
        raise InvalidArgument("job_ids", "give either job_ids or a queue, not both or neither")
    if queue:
        limits.check_queue_name(queue)
        return []
    limits.check_batch(len(job_ids), "job_ids")
    return [check_job_id(j, f"job_ids[{i}]") for i, j in enumerate(job_ids)]
