"""AdminService: translates between protobuf and the operators' use cases."""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.entities.errors import InvalidArgument
from broker.entities.job_view import JobFilter, views_of
from broker.interface.grpc import callback_mapping as cmap
from broker.interface.grpc import mapping
from broker.interface.grpc import breaker_mapping, queue_mapping as qmap, retry_mapping
from broker.interface.grpc import schedule_mapping as smap
from broker.interface.grpc import webhook_source_mapping as wmap
from broker.usecases.callbacks.create import CreateSubscription
from broker.usecases.callbacks.delete import DeleteSubscription
from broker.usecases.callbacks.listing import GetSubscription, ListSubscriptions
from broker.usecases.callbacks.update import UpdateSubscription
from broker.usecases.cancel import CancelJob
from broker.usecases.get_job import GetJob
from broker.usecases.list_jobs import ListJobs
from broker.usecases.purge import PurgeJobs
from broker.usecases.redrive import RedriveJobs
from broker.usecases.queues.listing import GetQueue, ListQueues
from broker.usecases.queues.update import UpdateQueue
from broker.usecases.schedules.create import CreateSchedule
from broker.usecases.schedules.delete import DeleteSchedule
from broker.usecases.schedules.get import GetSchedule
from broker.usecases.schedules.listing import ListSchedules
from broker.usecases.schedules.pause import PauseSchedule
from broker.usecases.schedules.resume import ResumeSchedule
from broker.usecases.schedules.trigger import TriggerSchedule
from broker.usecases.schedules.update import UpdateSchedule
from broker.usecases.stats import Stats
from broker.usecases.webhook_sources.create import CreateWebhookSource
from broker.usecases.webhook_sources.delete import DeleteWebhookSource
from broker.usecases.webhook_sources.listing import GetWebhookSource, ListWebhookSources
from broker.usecases.webhook_sources.update import UpdateWebhookSource
from broker.v1 import admin_service_pb2 as pb
from broker.v1 import admin_service_pb2_grpc, callback_pb2, job_pb2, webhook_source_pb2 as wpb


@dataclass(frozen=True)
class AdminUseCases:
    get_job: GetJob
    list_jobs: ListJobs
    stats: Stats
    redrive: RedriveJobs
    cancel: CancelJob
    purge: PurgeJobs
    schedules: ScheduleUseCases | None = field(default=None)
    queues: QueueUseCases | None = field(default=None)
    callbacks: CallbackUseCases | None = field(default=None)
    webhook_sources: WebhookSourceUseCases | None = field(default=None)


@dataclass(frozen=True)
class WebhookSourceUseCases:
    create: CreateWebhookSource
    update: UpdateWebhookSource
    get: GetWebhookSource
    list: ListWebhookSources
    delete: DeleteWebhookSource


@dataclass(frozen=True)
class CallbackUseCases:
    create: CreateSubscription
    update: UpdateSubscription
    get: GetSubscription
    list: ListSubscriptions
    delete: DeleteSubscription


@dataclass(frozen=True)
class QueueUseCases:
    get: GetQueue
    list: ListQueues
    update: UpdateQueue


@dataclass(frozen=True)
class ScheduleUseCases:
    create: CreateSchedule
    update: UpdateSchedule
    delete: DeleteSchedule
    list: ListSchedules
    get: GetSchedule
    pause: PauseSchedule
    resume: ResumeSchedule
    trigger: TriggerSchedule


def _state(value: int, field: str):
    if value == job_pb2.JOB_STATE_UNSPECIFIED:
        return None
    if value not in mapping.STATE_FROM_WIRE:
        raise InvalidArgument(field, f"unknown state {value}")
    return mapping.STATE_FROM_WIRE[value]


class AdminService(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self, use: AdminUseCases) -> None:
        self._use = use

    async def GetJob(self, request: pb.GetJobRequest, context) -> pb.GetJobResponse:
        job, events = await self._use.get_job(request.job_id)
        response = pb.GetJobResponse()
        mapping.job_to_wire(job, response.job)
        for event in events:
            mapping.event_to_wire(event, response.events.add())
        return response

    async def ListJobs(self, request: pb.ListJobsRequest, context) -> pb.ListJobsResponse:
        state = _state(request.state, "state")
        where = JobFilter(queue=request.queue or None, views=views_of(state) if state else frozenset())
        page = await self._use.list_jobs(where, request.page_size, request.page_token)
        response = pb.ListJobsResponse(next_page_token=page.next_token)
        for job in page.jobs:
            mapping.job_to_wire(job, response.jobs.add())
        return response

    async def Stats(self, request: pb.StatsRequest, context) -> pb.StatsResponse:
        response = pb.StatsResponse()
        response.at.GetCurrentTime()
        for s in await self._use.stats(list(request.queues)):
            q = response.queues.add(queue=s.queue, ready=s.ready, scheduled=s.scheduled, retrying=s.retrying,
                                    running=s.running, succeeded=s.succeeded, dead=s.dead, cancelled=s.cancelled)
            mapping.set_duration(q.oldest_ready_age, s.oldest_ready_age)
            q.breaker = breaker_mapping.STATE_NAMES.get(s.breaker, 0)
            for window, out in ((s.last_minute, q.last_minute), (s.last_hour, q.last_hour)):
                out.enqueued, out.succeeded, out.failed = window.enqueued, window.succeeded, window.failed
                out.dead_lettered, out.failure_rate = window.dead_lettered, window.failure_rate
            if s.controls is not None:
                qmap.controls_to_wire(s.controls, q.controls)
        return response

    async def RedriveJobs(self, request: pb.RedriveJobsRequest, context) -> pb.RedriveJobsResponse:
        reset = request.reset_attempts if request.HasField("reset_attempts") else True
        ids = await self._use.redrive(list(request.job_ids), request.queue or None, reset)
        return pb.RedriveJobsResponse(redriven=len(ids), job_ids=ids)

    async def CancelJob(self, request: pb.CancelJobRequest, context) -> pb.CancelJobResponse:
        job = await self._use.cancel(request.job_id)
        response = pb.CancelJobResponse()
        mapping.job_to_wire(job, response.job)
        return response

    async def PurgeJobs(self, request: pb.PurgeJobsRequest, context) -> pb.PurgeJobsResponse:
        purged = await self._use.purge(list(request.job_ids), request.queue or None,
                                       _state(request.state, "state"))
        return pb.PurgeJobsResponse(purged=purged)

    # Schedules (cron).

    async def CreateSchedule(self, request: pb.CreateScheduleRequest, context) -> pb.CreateScheduleResponse:
        created = await self._use.schedules.create(smap.definition_from_wire(request.schedule), request.paused)
        return _schedule(pb.CreateScheduleResponse(), created)

    async def UpdateSchedule(self, request: pb.UpdateScheduleRequest, context) -> pb.UpdateScheduleResponse:
        updated = await self._use.schedules.update(smap.definition_from_wire(request.schedule))
        return _schedule(pb.UpdateScheduleResponse(), updated)

    async def DeleteSchedule(self, request: pb.DeleteScheduleRequest, context) -> pb.DeleteScheduleResponse:
        await self._use.schedules.delete(request.name)
        return pb.DeleteScheduleResponse()

    async def ListSchedules(self, request: pb.ListSchedulesRequest, context) -> pb.ListSchedulesResponse:
        response = pb.ListSchedulesResponse()
        for s in await self._use.schedules.list():
            smap.schedule_to_wire(s, response.schedules.add())
        return response

    async def GetSchedule(self, request: pb.GetScheduleRequest, context) -> pb.GetScheduleResponse:
        return _schedule(pb.GetScheduleResponse(), await self._use.schedules.get(request.name))

    async def PauseSchedule(self, request: pb.PauseScheduleRequest, context) -> pb.PauseScheduleResponse:
        return _schedule(pb.PauseScheduleResponse(), await self._use.schedules.pause(request.name))

    async def ResumeSchedule(self, request: pb.ResumeScheduleRequest, context) -> pb.ResumeScheduleResponse:
        return _schedule(pb.ResumeScheduleResponse(), await self._use.schedules.resume(request.name))

    async def TriggerSchedule(self, request: pb.TriggerScheduleRequest, context) -> pb.TriggerScheduleResponse:
        job_id, schedule = await self._use.schedules.trigger(request.name)
        response = pb.TriggerScheduleResponse(job_id=job_id)
        smap.schedule_to_wire(schedule, response.schedule)
        return response

    # Queue controls.

    async def GetQueue(self, request: pb.GetQueueRequest, context) -> pb.GetQueueResponse:
        return qmap.response(await self._use.queues.get(request.queue))

    async def ListQueues(self, request: pb.ListQueuesRequest, context) -> pb.ListQueuesResponse:
        response = pb.ListQueuesResponse()
        for q in await self._use.queues.list():
            qmap.controls_to_wire(q, response.queues.add())
        return response

    async def UpdateQueue(self, request: pb.UpdateQueueRequest, context) -> pb.UpdateQueueResponse:
        return qmap.response(await self._use.queues.update(request.queue, qmap.change_from_wire(request),
                                                           breaker_mapping.change_from_wire(request),
                                                           retry_mapping.change_from_wire(request)),
                             pb.UpdateQueueResponse)

    # Outbound callbacks.

    async def CreateSubscription(self, request, context) -> callback_pb2.CreateSubscriptionResponse:
        created = await self._use.callbacks.create(cmap.spec_from_wire(request.subscription))
        return cmap.response(callback_pb2.CreateSubscriptionResponse, created)

    async def UpdateSubscription(self, request, context) -> callback_pb2.UpdateSubscriptionResponse:
        updated = await self._use.callbacks.update(cmap.spec_from_wire(request.subscription))
        return cmap.response(callback_pb2.UpdateSubscriptionResponse, updated)

    async def GetSubscription(self, request, context) -> callback_pb2.GetSubscriptionResponse:
        return cmap.response(callback_pb2.GetSubscriptionResponse, await self._use.callbacks.get(request.name))

    async def ListSubscriptions(self, request, context) -> callback_pb2.ListSubscriptionsResponse:
        response = callback_pb2.ListSubscriptionsResponse()
        for s in await self._use.callbacks.list():
            cmap.subscription_to_wire(s, response.subscriptions.add())
        return response

    async def DeleteSubscription(self, request, context) -> callback_pb2.DeleteSubscriptionResponse:
        await self._use.callbacks.delete(request.name)
        return callback_pb2.DeleteSubscriptionResponse()


    # Inbound webhook sources.

    async def CreateWebhookSource(self, request, context) -> wpb.CreateWebhookSourceResponse:
        created = await self._use.webhook_sources.create(wmap.spec_from_wire(request.source))
        return wmap.response(wpb.CreateWebhookSourceResponse, created)

    async def UpdateWebhookSource(self, request, context) -> wpb.UpdateWebhookSourceResponse:
        updated = await self._use.webhook_sources.update(wmap.spec_from_wire(request.source))
        return wmap.response(wpb.UpdateWebhookSourceResponse, updated)

    async def GetWebhookSource(self, request, context) -> wpb.GetWebhookSourceResponse:
        return wmap.response(wpb.GetWebhookSourceResponse, await self._use.webhook_sources.get(request.name))

    async def ListWebhookSources(self, request, context) -> wpb.ListWebhookSourcesResponse:
        response = wpb.ListWebhookSourcesResponse()
        for s in await self._use.webhook_sources.list():
            wmap.source_to_wire(s, response.sources.add())
        return response

    async def DeleteWebhookSource(self, request, context) -> wpb.DeleteWebhookSourceResponse:
        await self._use.webhook_sources.delete(request.name)
        return wpb.DeleteWebhookSourceResponse()

def _schedule(response, schedule):
    """`response` (a Create/Update/Get/Pause/ResumeScheduleResponse) holding `schedule`."""
    smap.schedule_to_wire(schedule, response.schedule)
    return response
