"""The blocking admin client."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any

import grpc

from ..calls import Calls
from ..options import CallRetry, ConnectionOptions, TlsOptions, resolve
from ..v1 import admin_service_pb2 as pb
from ..v1 import admin_service_pb2_grpc
from . import requests, responses
from .records import Job, JobHistory, JobPage, JobState, RedriveResult
from .requests import JobIds, StateArg
from .breakers import breaker_request
from .queues import QueueControls, controls, update_request
from .retry import retry_request
from .schedules import Schedule, schedule, spec
from .subscriptions import Subscription, subscription
from .subscriptions import spec as hook_spec
from ..v1 import callback_pb2 as cpb
from ..v1 import webhook_source_pb2 as wpb
from .webhook_sources import WebhookSource, source
from .webhook_sources import spec as source_spec
from .stats import StatsReport


class AdminClient:
    """What operators call (the AdminService) over a blocking gRPC channel: inspect jobs and
    their history, list them, read per-queue stats, cancel, redrive and purge. Thread-safe.

    A broker with authentication on needs an API key with the admin role (``token=``); other
    roles get ``PermissionDenied``. Connection settings, TLS and retries are those of
    ``Client``; every call here is safe to repeat, so UNAVAILABLE and DEADLINE_EXCEEDED are
    retried too (a retried redrive or purge reports what its last attempt did).

    >>> with AdminClient("127.0.0.1:50051", token=admin_key) as admin:
    ...     for job in admin.iter_jobs("emails", JobState.DEAD):
    ...         print(job.id, job.last_error)
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        token: str | None = None,
        tls: TlsOptions | None = None,
        timeout: float | None = None,
        retry: CallRetry | None = None,
        options: ConnectionOptions | None = None,
        channel: grpc.Channel | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``options`` holds every connection setting; the keywords override it.
        ``channel`` replaces the channel the options would build (tests use it)."""
        self.options = resolve(target, options, token=token, tls=tls, timeout=timeout, retry=retry)
        self._call = Calls(self.options, channel, sleep)
        self._stub = admin_service_pb2_grpc.AdminServiceStub(self._call.channel)  # type: ignore[no-untyped-call]

    def get_job(self, job_id: str, *, timeout: float | None = None) -> JobHistory:
        """The job and its event history; ``NotFound`` when the broker has no such job."""
        return responses.history(self._call(self._stub.GetJob, requests.get_request(job_id), timeout))

    def list_jobs(self, queue: str | None = None, state: StateArg = None, *, page_size: int = 100,
                  page_token: str = "", timeout: float | None = None) -> JobPage:
        """One page of jobs, newest first: of ``queue`` (None: every queue) in ``state``
        (a JobState or its name; None: any). ``page_size`` is 1 to 1,000; pass the page's
        ``next_page_token`` as ``page_token`` for the next one."""
        request = requests.list_request(queue, state, page_size, page_token)
        return responses.page(self._call(self._stub.ListJobs, request, timeout))

    def iter_jobs(self, queue: str | None = None, state: StateArg = None, *, page_size: int = 100,
                  timeout: float | None = None) -> Iterator[Job]:
        """Every job ``list_jobs`` would list, page after page (one call per page, as you go)."""
        token = ""
        while True:
            page = self.list_jobs(queue, state, page_size=page_size, page_token=token, timeout=timeout)
            yield from page.jobs
            if not page.next_page_token:
                return
            token = page.next_page_token

    def stats(self, queues: Iterable[str] = (), *, timeout: float | None = None) -> StatsReport:
        """Per-queue counts, the oldest ready job's age and the last minute's and hour's counts,
        for ``queues`` (default: every queue that holds jobs)."""
        return responses.stats(self._call(self._stub.Stats, requests.stats_request(queues), timeout))

    def cancel_job(self, job_id: str, *, timeout: float | None = None) -> Job:
        """PENDING or RUNNING -> CANCELLED (a running job's worker learns it at its next
        heartbeat); returns the job. A job already cancelled is returned as it is; another
        finished job raises ``FailedPrecondition``."""
        return responses.job(self._call(self._stub.CancelJob, requests.cancel_request(job_id), timeout).job)

    def redrive_jobs(self, job_ids: JobIds = (), *, queue: str | None = None, reset_attempts: bool = True,
                     timeout: float | None = None) -> RedriveResult:
        """DEAD jobs back to PENDING, ready now: the given ids, or every dead job of ``queue``
        (one or the other). ``reset_attempts`` grants them a fresh set of attempts; False keeps
        the count, so a job that used up its attempts gets one more."""
        request = requests.redrive_request(job_ids, queue, reset_attempts)
        return responses.redriven(self._call(self._stub.RedriveJobs, request, timeout))

    def purge_jobs(self, job_ids: JobIds = (), *, queue: str | None = None, state: StateArg = JobState.DEAD,
                   timeout: float | None = None) -> int:
        """Delete finished jobs in ``state`` (DEAD, SUCCEEDED or CANCELLED) with their history:
        the given ids, or all of ``queue``. Returns how many were deleted."""
        request = requests.purge_request(job_ids, queue, state)
        return int(self._call(self._stub.PurgeJobs, request, timeout).purged)

    def create_schedule(self, name: str, cron: str, queue: str, kind: str, *, paused: bool = False,
                        timeout: float | None = None, **fields: Any) -> Schedule:
        """A schedule enqueueing a job of ``kind`` on ``queue`` at each fire of ``cron``
        (5 fields, 6 with seconds first, or @hourly-style) in ``time_zone`` (IANA, default UTC).
        ``fields``: time_zone, payload, headers, priority, max_attempts, missed ("skip",
        "run_once", "catch_up") and catch_up_limit. ``AlreadyExists`` when the name is taken."""
        request = pb.CreateScheduleRequest(schedule=spec(name, cron, queue, kind, **fields), paused=paused)
        return schedule((self._call(self._stub.CreateSchedule, request, timeout)).schedule)

    def update_schedule(self, name: str, cron: str, queue: str, kind: str, *, timeout: float | None = None,
                        **fields: Any) -> Schedule:
        """Replaces the definition (as ``create_schedule`` takes it); a new cron or zone
        starts afresh from now."""
        request = pb.UpdateScheduleRequest(schedule=spec(name, cron, queue, kind, **fields))
        return schedule((self._call(self._stub.UpdateSchedule, request, timeout)).schedule)

    def delete_schedule(self, name: str, *, timeout: float | None = None) -> None:
        """Deletes the schedule (its jobs stay)."""
        self._call(self._stub.DeleteSchedule, pb.DeleteScheduleRequest(name=name), timeout)

    def list_schedules(self, *, timeout: float | None = None) -> list[Schedule]:
        """Every schedule by name, with its next fire time and last job."""
        response = self._call(self._stub.ListSchedules, pb.ListSchedulesRequest(), timeout)
        return [schedule(s) for s in response.schedules]

    def get_schedule(self, name: str, *, timeout: float | None = None) -> Schedule:
        """One schedule; ``NotFound`` when there is none of that name."""
        return schedule((self._call(self._stub.GetSchedule, pb.GetScheduleRequest(name=name), timeout)).schedule)

    def pause_schedule(self, name: str, *, timeout: float | None = None) -> Schedule:
        """Stops its fires until resumed."""
        return schedule((self._call(self._stub.PauseSchedule, pb.PauseScheduleRequest(name=name), timeout)).schedule)

    def resume_schedule(self, name: str, *, timeout: float | None = None) -> Schedule:
        """Fires again from the next fire time after now (no catch-up of the pause)."""
        return schedule((self._call(self._stub.ResumeSchedule, pb.ResumeScheduleRequest(name=name), timeout)).schedule)

    def trigger_schedule(self, name: str, *, timeout: float | None = None) -> str:
        """Enqueues its job once now, paused or not; returns the job id."""
        return str((self._call(self._stub.TriggerSchedule, pb.TriggerScheduleRequest(name=name), timeout)).job_id)

    def get_queue(self, queue: str, *, timeout: float | None = None) -> QueueControls:
        """A queue's controls (the defaults for a queue nobody configured)."""
        return controls((self._call(self._stub.GetQueue, pb.GetQueueRequest(queue=queue), timeout)).queue)

    def list_queues(self, *, timeout: float | None = None) -> list[QueueControls]:
        """Every queue whose controls were ever set, by name."""
        response = self._call(self._stub.ListQueues, pb.ListQueuesRequest(), timeout)
        return [controls(q) for q in response.queues]

    def update_queue(self, queue: str, *, paused: bool | None = None, concurrency_limit: int | None = None,
                     per_key_concurrency: int | None = None, rate_limit: float | None = None,
                     rate_burst: int | None = None, timeout: float | None = None) -> QueueControls:
        """Change the controls given (None: unchanged; 0 removes a limit or the rate; a new rate
        without ``rate_burst`` gets a second's worth); every broker replica obeys at once.
        ``InvalidArgument`` names a bad field."""
        request = update_request(queue, paused=paused, concurrency_limit=concurrency_limit,
                                 per_key_concurrency=per_key_concurrency, rate_limit=rate_limit,
                                 rate_burst=rate_burst)
        return controls((self._call(self._stub.UpdateQueue, request, timeout)).queue)

    def update_breaker(self, queue: str, *, force: str | None = None, remove: bool = False,
                       timeout: float | None = None, **settings) -> QueueControls:
        """Give the queue a circuit breaker or change its settings (``window_seconds``,
        ``min_attempts``, ``failure_rate``, ``cool_down_seconds``, ``probes``; a new breaker takes
        the defaults for the rest), hold it ``force="open"`` or ``"closed"`` or set it back to
        ``"auto"``, or ``remove`` it. ``InvalidArgument`` names a bad field."""
        request = breaker_request(queue, force, remove, settings)
        return controls((self._call(self._stub.UpdateQueue, request, timeout)).queue)

    def update_retry(self, queue: str, *, jitter: str | None = None, reset: bool = False,
                     timeout: float | None = None, **settings) -> QueueControls:
        """Set the queue's default retry policy for jobs enqueued from now on (``max_attempts``,
        ``initial_delay_seconds``, ``max_delay_seconds``, ``multiplier``, ``jitter``; the others
        unchanged), or ``reset`` it to the broker's settings."""
        request = retry_request(queue, reset, jitter, settings)
        return controls((self._call(self._stub.UpdateQueue, request, timeout)).queue)

    def pause_queue(self, queue: str, *, timeout: float | None = None) -> QueueControls:
        """Lease hands out nothing of the queue until resumed; running jobs finish, Enqueue
        still works."""
        return self.update_queue(queue, paused=True, timeout=timeout)

    def resume_queue(self, queue: str, *, timeout: float | None = None) -> QueueControls:
        """Lease hands its jobs out again; waiting long polls wake."""
        return self.update_queue(queue, paused=False, timeout=timeout)

    def create_subscription(self, name: str, url: str, events: Iterable[str], *, secrets: Iterable[str],
                            queue: str | None = None, kind: str | None = None, max_attempts: int = 0,
                            timeout: float | None = None) -> Subscription:
        """Post the ``events`` of jobs (of ``queue`` and ``kind``; None: any) to ``url``, signed
        with each of ``secrets`` (``whsec_`` and base64; two while rotating). ``max_attempts``
        0 takes the broker's default. ``AlreadyExists`` when the name is taken; ``InvalidArgument``
        names a bad field."""
        request = cpb.CreateSubscriptionRequest(
            subscription=hook_spec(name, url, events, secrets, queue, kind, max_attempts))
        return subscription(self._call(self._stub.CreateSubscription, request, timeout).subscription)

    def update_subscription(self, name: str, url: str, events: Iterable[str], *, secrets: Iterable[str] = (),
                            queue: str | None = None, kind: str | None = None, max_attempts: int = 0,
                            timeout: float | None = None) -> Subscription:
        """Replace the subscription's fields; no ``secrets`` keeps its secrets. To rotate a
        secret: ``secrets=[new, old]``, then ``secrets=[new]`` once receivers know the new one."""
        request = cpb.UpdateSubscriptionRequest(
            subscription=hook_spec(name, url, events, secrets, queue, kind, max_attempts))
        return subscription(self._call(self._stub.UpdateSubscription, request, timeout).subscription)

    def get_subscription(self, name: str, *, timeout: float | None = None) -> Subscription:
        """``NotFound`` when there is none."""
        request = cpb.GetSubscriptionRequest(name=name)
        return subscription(self._call(self._stub.GetSubscription, request, timeout).subscription)

    def list_subscriptions(self, *, timeout: float | None = None) -> list[Subscription]:
        """Every subscription, by name."""
        response = self._call(self._stub.ListSubscriptions, cpb.ListSubscriptionsRequest(), timeout)
        return [subscription(s) for s in response.subscriptions]

    def delete_subscription(self, name: str, *, timeout: float | None = None) -> None:
        """Deliveries already made stay (and fail for good). ``NotFound`` when there is none."""
        self._call(self._stub.DeleteSubscription, cpb.DeleteSubscriptionRequest(name=name), timeout)

    def create_webhook_source(self, name: str, scheme: str, queue: str, kind: str, *, secrets: Iterable[str],
                              delivery_id: str | None = None, headers: Iterable[str] = (),
                              timeout: float | None = None) -> WebhookSource:
        """A source whose verified deliveries to ``POST /webhooks/{name}`` become jobs, on every
        replica at once. ``AlreadyExists`` when the name is taken; ``InvalidArgument`` names a
        bad field."""
        request = wpb.CreateWebhookSourceRequest(
            source=source_spec(name, scheme, queue, kind, secrets, delivery_id, headers))
        return source((self._call(self._stub.CreateWebhookSource, request, timeout)).source)

    def update_webhook_source(self, name: str, scheme: str, queue: str, kind: str, *, secrets: Iterable[str] = (),
                              delivery_id: str | None = None, headers: Iterable[str] = (),
                              timeout: float | None = None) -> WebhookSource:
        """Replace the source's fields; no ``secrets`` keeps its secrets (rotate: ``[new, old]``,
        later ``[new]``). ``FailedPrecondition`` for a source of the sources file."""
        request = wpb.UpdateWebhookSourceRequest(
            source=source_spec(name, scheme, queue, kind, secrets, delivery_id, headers))
        return source((self._call(self._stub.UpdateWebhookSource, request, timeout)).source)

    def get_webhook_source(self, name: str, *, timeout: float | None = None) -> WebhookSource:
        """``NotFound`` when there is none."""
        request = wpb.GetWebhookSourceRequest(name=name)
        return source((self._call(self._stub.GetWebhookSource, request, timeout)).source)

    def list_webhook_sources(self, *, timeout: float | None = None) -> list[WebhookSource]:
        """The sources file's sources and those made at run time, by name."""
        response = self._call(self._stub.ListWebhookSources, wpb.ListWebhookSourcesRequest(), timeout)
        return [source(s) for s in response.sources]

    def delete_webhook_source(self, name: str, *, timeout: float | None = None) -> None:
        """Its URL is 404 from now on; its jobs stay."""
        self._call(self._stub.DeleteWebhookSource, wpb.DeleteWebhookSourceRequest(name=name), timeout)

    def close(self) -> None:
        """Close the channel."""
        self._call.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
