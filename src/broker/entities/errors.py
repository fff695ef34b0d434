"""The broker's error tree. Each class's docstring is its default message; the gRPC edge maps
classes to status codes in one table (broker.interface.grpc.status)."""

from __future__ import annotations


class BrokerError(Exception):
    """The broker could not do what was asked."""

    def __init__(self, message: str | None = None, **data: object) -> None:
        self.data = data
        super().__init__(message or (self.__doc__ or "").strip())

    @property
    def message(self) -> str:
        return str(self)


class InvalidArgument(BrokerError):
    """A request field is not acceptable."""

    def __init__(self, field: str, problem: str) -> None:
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}", field=field)

    def at(self, prefix: str) -> InvalidArgument:
        """The same problem, its field named from further out (`prefix` + field)."""
        return InvalidArgument(prefix + self.field, self.problem)


class NotFound(BrokerError):
    """No such job."""


class JobNotFound(NotFound):
    """No job has this id."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} not found", job_id=job_id)


class ScheduleNotFound(NotFound):
    """No schedule has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"schedule {name!r} not found", schedule=name)


class SubscriptionNotFound(NotFound):
    """No callback subscription has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"subscription {name!r} not found", subscription=name)


class WebhookSourceNotFound(NotFound):
    """No webhook source has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"webhook source {name[:64]!r} not found", source=name[:64])


class AlreadyExists(BrokerError):
    """Something of this name exists already."""


class FailedPrecondition(BrokerError):
    """The job is not in a state that allows this."""

    # What is in the way, for clients to act on (the gRPC edge sends it as a
    # google.rpc.PreconditionFailure violation): a kind of condition, and what it is about.
    violation_type = "STATE"

    def __init__(self, message: str | None = None, *, subject: str = "", violation_type: str | None = None,
                 **data: object) -> None:
        super().__init__(message, **data)
        self.subject = subject
        if violation_type is not None:
            self.violation_type = violation_type


class IllegalTransition(FailedPrecondition):
    """This state change is not part of the job's life."""

    violation_type = "JOB_STATE"

    def __init__(self, job_id: str, from_state: object, to_state: object) -> None:
        super().__init__(
            f"job {job_id} cannot go from {from_state} to {to_state}",
            subject=f"jobs/{job_id}", job_id=job_id,
        )


class ResourceExhausted(BrokerError):
    """Too many requests; try again later."""

    def __init__(self, message: str | None = None, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class DeadlineExceeded(BrokerError):
    """The call's deadline had passed before the broker started the work; nothing was done."""


class Unavailable(BrokerError):
    """The broker cannot reach its database right now; retry with backoff."""


class Unauthenticated(BrokerError):
    """Missing or invalid credentials."""


class PermissionDenied(BrokerError):
    """These credentials do not allow this call."""
