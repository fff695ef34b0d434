"""The JSON API under /api/ that backs the dashboard (documented in docs/observability.md)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from broker.entities.errors import InvalidArgument
from broker.entities.job import JobState
from broker.entities.job_view import JobFilter, views_of
from broker.interface.http import jobs_api, views, workers_api
from broker.interface.http.bodies import int_param as _int, targets as _targets
from broker.interface.http.errors import request_id
from broker.usecases import context
from broker.usecases.callbacks.listing import ListSubscriptions
from broker.usecases.cancel import CancelJob
from broker.usecases.get_job import GetJob
from broker.usecases.list_jobs import ListJobs
from broker.usecases.overview import ReadOverview
from broker.usecases.purge import PurgeJobs
from broker.usecases.queues.listing import ListQueues
from broker.usecases.ports import Clock
from broker.usecases.queues.update import UpdateQueue
from broker.usecases.redrive import RedriveJobs
from broker.usecases.retry_job import RetryJob
from broker.usecases.schedules.listing import ListSchedules
from broker.usecases.stats import Stats
from broker.usecases.throughput import Throughput


@dataclass(frozen=True)
class DashboardUseCases:
    overview: ReadOverview
    throughput: Throughput
    get_job: GetJob
    list_jobs: ListJobs
    redrive: RedriveJobs
    purge: PurgeJobs
    schedules: ListSchedules | None = None
    queues: ListQueues | None = None  # the queues' flow controls, shown beside their stats
    subscriptions: ListSubscriptions | None = None
    stats: Stats | None = None  # the queues' rows with their breaker's state
    # The jobs' and queues' actions (jobs_api.py); without one, its endpoint is 404.
    cancel: CancelJob | None = None
    retry: RetryJob | None = None
    update_queue: UpdateQueue | None = None  # None without a queue store
    clock: Clock | None = None  # what a job's view (ready, scheduled, retrying) is judged against
    workers: workers_api.WorkerUseCases | None = None  # /api/workers, /api/latency, the rows' health


def add_routes(app: web.Application, use: DashboardUseCases) -> None:
    api = _Api(use)
    app.router.add_get("/api/overview", api.overview)
    app.router.add_get("/api/queues", api.queues)
    app.router.add_get("/api/throughput", api.throughput)
    app.router.add_get("/api/dead", api.dead)
    app.router.add_get("/api/schedules", api.schedules)
    app.router.add_get("/api/subscriptions", api.subscriptions)
    app.router.add_post("/api/redrive", api.redrive)
    jobs_api.add_routes(app, use)
    if use.workers is not None:
        workers_api.add_routes(app, use.workers)


class _Api:
    def __init__(self, use: DashboardUseCases) -> None:
        self._use = use

    async def overview(self, _request: web.Request) -> web.Response:
        view = await self._use.overview()
        return web.json_response({"at": views.when(view.at), "queues": await self._queue_stats(view),
                                  "workers": [views.worker(w) for w in view.workers]})

    async def queues(self, _request: web.Request) -> web.Response:
        view = await self._use.overview()
        return web.json_response({"at": views.when(view.at), "queues": await self._queue_stats(view)})

    async def _queue_stats(self, view) -> list[dict]:
        """Through Stats where there is one (each queue's breaker state, and its controls when
        built with a queue store); else the overview's rows and the controls listed."""
        found = await self._use.stats() if self._use.stats is not None else view.queues
        if self._use.queues is None or any(q.controls is not None for q in found):
            pairs = [(q, q.controls) for q in found]
        else:
            controls = {c.name: c for c in await self._use.queues()}
            pairs = [(q, controls.get(q.queue)) for q in found]
        return await workers_api.queue_rows(self._use.workers, pairs, view.workers)

    async def throughput(self, request: web.Request) -> web.Response:
        minutes = _int(request, "minutes", 60)
        found = await self._use.throughput(request.query.getall("queue", []), minutes)
        return web.json_response({"minutes": minutes, "buckets": [views.minute(m) for m in found]})

    async def dead(self, request: web.Request) -> web.Response:
        where = JobFilter(queue=request.query.get("queue") or None, views=views_of(JobState.DEAD))
        page = await self._use.list_jobs(where, _int(request, "limit", 50), request.query.get("page_token", ""),
                                         size_field="limit")
        return web.json_response({"jobs": [views.job_summary(j) for j in page.jobs],
                                  "next_page_token": page.next_token})

    async def schedules(self, _request: web.Request) -> web.Response:
        found = await self._use.schedules() if self._use.schedules else []
        return web.json_response({"schedules": [views.schedule(s) for s in found]})

    async def subscriptions(self, _request: web.Request) -> web.Response:
        found = await self._use.subscriptions() if self._use.subscriptions else []
        return web.json_response({"subscriptions": [views.subscription(s) for s in found]})

    async def redrive(self, request: web.Request) -> web.Response:
        ids, queue, body = await _targets(request, ("reset_attempts",))
        reset = body.get("reset_attempts", True)
        if not isinstance(reset, bool):
            raise InvalidArgument("reset_attempts", "must be true or false")
        token = context.request_id.set(request_id(request))  # the job log lines of the write name it
        try:
            redriven = await self._use.redrive(ids, queue, reset)
        finally:
            context.request_id.reset(token)
        return web.json_response({"redriven": len(redriven), "job_ids": redriven})
