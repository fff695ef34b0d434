"""What a failed call says a client can act on, beyond its message: the fields at fault
(google.rpc.BadRequest, sent with INVALID_ARGUMENT) and the conditions in the way
(google.rpc.PreconditionFailure, sent with FAILED_PRECONDITION). ``BrokerClientError`` carries
them as ``field_violations`` and ``precondition_violations``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .retry_info import (BAD_REQUEST_TYPE, PRECONDITION_FAILURE_TYPE, BadRequest, PreconditionFailure,
                         status_details)


@dataclass(frozen=True)
class FieldViolation:
    """A request field the broker refused: its path (``jobs[3].queue``) and what is wrong with it."""

    field: str
    description: str


@dataclass(frozen=True)
class PreconditionViolation:
    """A condition that kept the broker from doing what was asked: its kind (``JOB_STATE``,
    ``DECLARED_IN_FILE``, ...), what it is about (``jobs/<id>``, ``schedules/<name>``), and why."""

    type: str
    subject: str
    description: str


def decode(trailing_metadata: Iterable[Any] | None) -> tuple[tuple[FieldViolation, ...],
                                                            tuple[PreconditionViolation, ...]]:
    """The field and precondition violations in a call's trailing metadata (empty: none sent)."""
    fields: list[FieldViolation] = []
    conditions: list[PreconditionViolation] = []
    for detail in status_details(trailing_metadata):
        if detail.type_url == BAD_REQUEST_TYPE:
            fields += [FieldViolation(v.field, v.description)
                       for v in BadRequest.FromString(detail.value).field_violations]
        elif detail.type_url == PRECONDITION_FAILURE_TYPE:
            conditions += [PreconditionViolation(v.type, v.subject, v.description)
                           for v in PreconditionFailure.FromString(detail.value).violations]
    return tuple(fields), tuple(conditions)
