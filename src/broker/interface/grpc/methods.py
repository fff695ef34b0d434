"""What each RPC is, for the pipeline: the permission it needs and its rate-limit class.

One table, keyed by the full method name gRPC reports. A method missing from it (a new RPC
nobody classified yet) needs the admin permission and counts as an admin call: closed by
default. Health checks and reflection are open (probes and tooling; they reveal no jobs).
"""

from __future__ import annotations

from dataclasses import dataclass

from broker.entities.auth import Permission


@dataclass(frozen=True, slots=True)
class MethodInfo:
    permission: Permission
    rate_class: str  # one of broker.usecases.rate_limit.CALL_CLASSES


_JOBS = "/broker.v1.JobService/"
_ADMIN = "/broker.v1.AdminService/"
# The worker sessions' stream: the one streaming method of the broker's own.
SESSION = _JOBS + "WorkerSession"

METHODS: dict[str, MethodInfo] = {
    _JOBS + "Enqueue": MethodInfo(Permission.ENQUEUE, "enqueue"),
    _JOBS + "EnqueueBatch": MethodInfo(Permission.ENQUEUE, "enqueue"),
    _JOBS + "Lease": MethodInfo(Permission.WORK, "lease"),
    _JOBS + "Heartbeat": MethodInfo(Permission.WORK, "settle"),
    _JOBS + "Ack": MethodInfo(Permission.WORK, "settle"),
    _JOBS + "Nack": MethodInfo(Permission.WORK, "settle"),
    _JOBS + "Snooze": MethodInfo(Permission.WORK, "settle"),
    # The stream passes the stages untouched; each call on it is checked as its unary twin
    # (session.py), so this entry only classifies it.
    SESSION: MethodInfo(Permission.WORK, "settle"),
    _ADMIN + "GetJob": MethodInfo(Permission.READ_JOB, "admin"),
    **{_ADMIN + name: MethodInfo(Permission.ADMIN, "admin")
       for name in ("ListJobs", "Stats", "RedriveJobs", "CancelJob", "PurgeJobs",
                    "CreateSchedule", "UpdateSchedule", "DeleteSchedule", "ListSchedules", "GetSchedule",
                    "PauseSchedule", "ResumeSchedule", "TriggerSchedule", "GetQueue", "ListQueues",
                    "UpdateQueue", "CreateSubscription", "UpdateSubscription", "GetSubscription",
                    "ListSubscriptions", "DeleteSubscription", "CreateWebhookSource", "UpdateWebhookSource",
                    "GetWebhookSource", "ListWebhookSources", "DeleteWebhookSource")},
}
_UNCLASSIFIED = MethodInfo(Permission.ADMIN, "admin")
OPEN_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


def is_open(method: str) -> bool:
    """Callable without credentials and never rate limited."""
    return method.startswith(OPEN_PREFIXES)


def info(method: str) -> MethodInfo:
    return METHODS.get(method, _UNCLASSIFIED)
