"""The asyncio admin client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

import grpc.aio

from ..calls import AsyncCalls
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


class AsyncAdminClient:
    """The asyncio twin of ``AdminClient``: the same methods as coroutines (``iter_jobs`` is an
    async iterator), the same retries and errors. Create it inside the running event loop.

    >>> async with AsyncAdminClient("127.0.0.1:50051", token=admin_key) as admin:
    ...     report = await admin.stats(["emails"])
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
        channel: grpc.aio.Channel | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``options`` holds every connection setting; the keywords override it."""
        self.options = resolve(target, options, token=token, tls=tls, timeout=timeout, retry=retry)
        self._call = AsyncCalls(self.options, channel, sleep)
        self._stub = admin_service_pb2_grpc.AdminServiceStub(self._call.channel)  # type: ignore[no-untyped-call]

    async def get_job(self, job_id: str, *, timeout: float | None = None) -> JobHistory:
        """See ``AdminClient.get_job``."""
        return responses.history(await self._call(self._stub.GetJob, requests.get_request(job_id), timeout))

    async def list_jobs(self, queue: str | None = None, state: StateArg = None, *, page_size: int = 100,
                        page_token: str = "", timeout: float | None = None) -> JobPage:
        """See ``AdminClient.list_jobs``."""
        request = requests.list_request(queue, state, page_size, page_token)
        return responses.page(await self._call(self._stub.ListJobs, request, timeout))

    async def iter_jobs(self, queue: str | None = None, state: StateArg = None, *, page_size: int = 100,
                        timeout: float | None = None) -> AsyncIterator[Job]:
        """See ``AdminClient.iter_jobs``."""
        token = ""
        while True:
            page = await self.list_jobs(queue, state, page_size=page_size, page_token=token, timeout=timeout)
            for job in page.jobs:
                yield job
            if not page.next_page_token:
                return
            token = page.next_page_token

    async def stats(self, queues: Iterable[str] = (), *, timeout: float | None = None) -> StatsReport:
        """See ``AdminClient.stats``."""
        return responses.stats(await self._call(self._stub.Stats, requests.stats_request(queues), timeout))

    async def cancel_job(self, job_id: str, *, timeout: float | None = None) -> Job:
        """See ``AdminClient.cancel_job``."""
        response = await self._call(self._stub.CancelJob, requests.cancel_request(job_id), timeout)
        return responses.job(response.job)

    async def redrive_jobs(self, job_ids: JobIds = (), *, queue: str | None = None, reset_attempts: bool = True,
                           timeout: float | None = None) -> RedriveResult:
        """See ``AdminClient.redrive_jobs``."""
        request = requests.redrive_request(job_ids, queue, reset_attempts)
        return responses.redriven(await self._call(self._stub.RedriveJobs, request, timeout))

    async def purge_jobs(self, job_ids: JobIds = (), *, queue: str | None = None,
                         state: StateArg = JobState.DEAD, timeout: float | None = None) -> int:
        """See ``AdminClient.purge_jobs``."""
        request = requests.purge_request(job_ids, queue, state)
        return int((await self._call(self._stub.PurgeJobs, request, timeout)).purged)

    async def create_schedule(self, name: str, cron: str, queue: str, kind: str, *, paused: bool = False,
                        timeout: float | None = None, **fields: Any) -> Schedule:
        """See ``AdminClient.create_schedule``."""
        request = pb.CreateScheduleRequest(schedule=spec(name, cron, queue, kind, **fields), paused=paused)
        return schedule((await self._call(self._stub.CreateSchedule, request, timeout)).schedule)

    async def update_schedule(self, name: str, cron: str, queue: str, kind: str, *, timeout: float | None = None,
                        **fields: Any) -> Schedule:
        """See ``AdminClient.update_schedule``."""
        request = pb.UpdateScheduleRequest(schedule=spec(name, cron, queue, kind, **fields))
        return schedule((await self._call(self._stub.UpdateSchedule, request, timeout)).schedule)

    async def delete_schedule(self, name: str, *, timeout: float | None = None) -> None:
        """See ``AdminClient.delete_schedule``."""
        await self._call(self._stub.DeleteSchedule, pb.DeleteScheduleRequest(name=name), timeout)

    async def list_schedules(self, *, timeout: float | None = None) -> list[Schedule]:
        """See ``AdminClient.list_schedules``."""
        response = await self._call(self._stub.ListSchedules, pb.ListSchedulesRequest(), timeout)
        return [schedule(s) for s in response.schedules]

    async def get_schedule(self, name: str, *, timeout: float | None = None) -> Schedule:
        """See ``AdminClient.get_schedule``."""
        return schedule((await self._call(self._stub.GetSchedule, pb.GetScheduleRequest(name=name), timeout)).schedule)

    async def pause_schedule(self, name: str, *, timeout: float | None = None) -> Schedule:
        """See ``AdminClient.pause_schedule``."""
        return schedule((await self._call(self._stub.PauseSchedule, pb.PauseScheduleRequest(name=name), timeout)).schedule)

    async def resume_schedule(self, name: str, *, timeout: float | None = None) -> Schedule:
        """See ``AdminClient.resume_schedule``."""
        return schedule((await self._call(self._stub.ResumeSchedule, pb.ResumeScheduleRequest(name=name), timeout)).schedule)

    async def trigger_schedule(self, name: str, *, timeout: float | None = None) -> str:
        """See ``AdminClient.trigger_schedule``."""
        return str((await self._call(self._stub.TriggerSchedule, pb.TriggerScheduleRequest(name=name), timeout)).job_id)

    async def get_queue(self, queue: str, *, timeout: float | None = None) -> QueueControls:
        """See ``AdminClient.get_queue``."""
        return controls((await self._call(self._stub.GetQueue, pb.GetQueueRequest(queue=queue), timeout)).queue)

    async def list_queues(self, *, timeout: float | None = None) -> list[QueueControls]:
        """See ``AdminClient.list_queues``."""
        response = await self._call(self._stub.ListQueues, pb.ListQueuesRequest(), timeout)
        return [controls(q) for q in response.queues]

    async def update_queue(self, queue: str, *, paused: bool | None = None, concurrency_limit: int | None = None,
                           per_key_concurrency: int | None = None, rate_limit: float | None = None,
                           rate_burst: int | None = None, timeout: float | None = None) -> QueueControls:
        """See ``AdminClient.update_queue``."""
        request = update_request(queue, paused=paused, concurrency_limit=concurrency_limit,
                                 per_key_concurrency=per_key_concurrency, rate_limit=rate_limit,
                                 rate_burst=rate_burst)
        return controls((await self._call(self._stub.UpdateQueue, request, timeout)).queue)

    async def update_breaker(self, queue: str, *, force: str | None = None, remove: bool = False,
                             timeout: float | None = None, **settings) -> QueueControls:
        """See ``AdminClient.update_breaker``."""
        request = breaker_request(queue, force, remove, settings)
        return controls((await self._call(self._stub.UpdateQueue, request, timeout)).queue)

    async def update_retry(self, queue: str, *, jitter: str | None = None, reset: bool = False,
                           timeout: float | None = None, **settings) -> QueueControls:
        """See ``AdminClient.update_retry``."""
        request = retry_request(queue, reset, jitter, settings)
        return controls((await self._call(self._stub.UpdateQueue, request, timeout)).queue)

    async def pause_queue(self, queue: str, *, timeout: float | None = None) -> QueueControls:
        """See ``AdminClient.pause_queue``."""
        return await self.update_queue(queue, paused=True, timeout=timeout)

    async def resume_queue(self, queue: str, *, timeout: float | None = None) -> QueueControls:
        """See ``AdminClient.resume_queue``."""
        return await self.update_queue(queue, paused=False, timeout=timeout)

    async def create_subscription(self, name: str, url: str, events: Iterable[str], *, secrets: Iterable[str],
                                  queue: str | None = None, kind: str | None = None, max_attempts: int = 0,
                                  timeout: float | None = None) -> Subscription:
        """See ``AdminClient.create_subscription``."""
        request = cpb.CreateSubscriptionRequest(
            subscription=hook_spec(name, url, events, secrets, queue, kind, max_attempts))
        return subscription((await self._call(self._stub.CreateSubscription, request, timeout)).subscription)

    async def update_subscription(self, name: str, url: str, events: Iterable[str], *, secrets: Iterable[str] = (),
                                  queue: str | None = None, kind: str | None = None, max_attempts: int = 0,
                                  timeout: float | None = None) -> Subscription:
        """See ``AdminClient.update_subscription``."""
        request = cpb.UpdateSubscriptionRequest(
            subscription=hook_spec(name, url, events, secrets, queue, kind, max_attempts))
        return subscription((await self._call(self._stub.UpdateSubscription, request, timeout)).subscription)

    async def get_subscription(self, name: str, *, timeout: float | None = None) -> Subscription:
        """See ``AdminClient.get_subscription``."""
        request = cpb.GetSubscriptionRequest(name=name)
        return subscription((await self._call(self._stub.GetSubscription, request, timeout)).subscription)

    async def list_subscriptions(self, *, timeout: float | None = None) -> list[Subscription]:
        """See ``AdminClient.list_subscriptions``."""
        response = await self._call(self._stub.ListSubscriptions, cpb.ListSubscriptionsRequest(), timeout)
        return [subscription(s) for s in response.subscriptions]

    async def delete_subscription(self, name: str, *, timeout: float | None = None) -> None:
        """See ``AdminClient.delete_subscription``."""
        await self._call(self._stub.DeleteSubscription, cpb.DeleteSubscriptionRequest(name=name), timeout)

    async def create_webhook_source(self, name: str, scheme: str, queue: str, kind: str, *, secrets: Iterable[str],
                              delivery_id: str | None = None, headers: Iterable[str] = (),
                              timeout: float | None = None) -> WebhookSource:
        """See ``AdminClient.create_webhook_source``."""
        request = wpb.CreateWebhookSourceRequest(
            source=source_spec(name, scheme, queue, kind, secrets, delivery_id, headers))
        return source((await self._call(self._stub.CreateWebhookSource, request, timeout)).source)

    async def update_webhook_source(self, name: str, scheme: str, queue: str, kind: str, *, secrets: Iterable[str] = (),
                              delivery_id: str | None = None, headers: Iterable[str] = (),
                              timeout: float | None = None) -> WebhookSource:
        """See ``AdminClient.update_webhook_source``."""
        request = wpb.UpdateWebhookSourceRequest(
            source=source_spec(name, scheme, queue, kind, secrets, delivery_id, headers))
        return source((await self._call(self._stub.UpdateWebhookSource, request, timeout)).source)

    async def get_webhook_source(self, name: str, *, timeout: float | None = None) -> WebhookSource:
        """See ``AdminClient.get_webhook_source``."""
        request = wpb.GetWebhookSourceRequest(name=name)
        return source((await self._call(self._stub.GetWebhookSource, request, timeout)).source)

    async def list_webhook_sources(self, *, timeout: float | None = None) -> list[WebhookSource]:
        """See ``AdminClient.list_webhook_sources``."""
        response = await self._call(self._stub.ListWebhookSources, wpb.ListWebhookSourcesRequest(), timeout)
        return [source(s) for s in response.sources]

    async def delete_webhook_source(self, name: str, *, timeout: float | None = None) -> None:
        """See ``AdminClient.delete_webhook_source``."""
        await self._call(self._stub.DeleteWebhookSource, wpb.DeleteWebhookSourceRequest(name=name), timeout)

    async def close(self) -> None:
        """Close the channel."""
        await self._call.close()

    async def __aenter__(self) -> AsyncAdminClient:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
