"""The dashboard's interactors (interface/http/api.py's DashboardUseCases), wired by build.py."""

from __future__ import annotations

from broker.entities.queue import Limits
from broker.interface.grpc.admin_service import AdminUseCases
from broker.interface.http.api import DashboardUseCases
from broker.interface.http.workers_api import WorkerUseCases
from broker.usecases.overview import ReadOverview
from broker.usecases.ports import Clock, EventSink, JobStore, Notifier
from broker.usecases.retry_job import RetryJob
from broker.usecases.throughput import Throughput


def dashboard(store: JobStore, clock: Clock, notifier: Notifier, sink: EventSink, limits: Limits,
              overview: ReadOverview, admin: AdminUseCases, workers: WorkerUseCases) -> DashboardUseCases:
    """The dashboard's API: the operators' interactors it shares, the charts' throughput,
    "retry now", and the workers' view."""
    return DashboardUseCases(
        overview=overview, throughput=Throughput(store, clock, limits), get_job=admin.get_job,
        list_jobs=admin.list_jobs, redrive=admin.redrive, purge=admin.purge,
        schedules=admin.schedules and admin.schedules.list, stats=admin.stats,
        queues=admin.queues and admin.queues.list,
        subscriptions=admin.callbacks and admin.callbacks.list,
        cancel=admin.cancel, retry=RetryJob(store, clock, notifier, sink),
        update_queue=admin.queues and admin.queues.update, clock=clock, workers=workers,
    )
