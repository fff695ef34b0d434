"""The dashboard's JSON API on jobs and queues beyond the reads of api.py: jobs in every state
(filtered, searched, paged, counted), a job's detail, and the actions (cancel, retry now, purge,
a queue's controls and breaker). Documented in docs/observability.md."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from broker.entities.breaker_settings import BreakerChange, Force
from broker.entities.errors import InvalidArgument
from broker.entities.job import Job, JobState
from broker.entities.job_view import JobFilter, parse_view, view_of
from broker.entities.queue_state import ControlsChange
from broker.interface.http import views
from broker.interface.http.bodies import fields, int_param, targets
from broker.interface.http.errors import request_id
from broker.usecases import context

if TYPE_CHECKING:
    from broker.interface.http.api import DashboardUseCases

DEFAULT_LIMIT = 50
_PURGEABLE = {s.value: s for s in JobState if s.finished}
_ACTIONS = {"open": Force.OPEN, "close": Force.CLOSED, "auto": Force.AUTO}
_LIMITS = ("concurrency_limit", "per_key_concurrency", "rate_burst")


def add_routes(app: web.Application, use: DashboardUseCases) -> None:
    """The routes of the use cases given (a missing one: its route answers 404)."""
    api = _JobsApi(use)
    app.router.add_get("/api/jobs", api.list)
    app.router.add_get("/api/jobs/{job_id}", api.job)
    app.router.add_post("/api/purge", api.purge)
    if use.cancel is not None:
        app.router.add_post("/api/jobs/{job_id}/cancel", api.cancel)
    if use.retry is not None:
        app.router.add_post("/api/jobs/{job_id}/retry", api.retry)
    if use.update_queue is not None:
        app.router.add_post("/api/queues/{queue}/controls", api.controls)
        app.router.add_post("/api/queues/{queue}/breaker", api.breaker)


class _JobsApi:
    def __init__(self, use: DashboardUseCases) -> None:
        self._use = use

    async def list(self, request: web.Request) -> web.Response:
        query = request.query
        where = JobFilter(queue=query.get("queue") or None, kind=query.get("kind") or None,
                          views=frozenset(v for v in [parse_view(query.get("state", ""))] if v),
                          search=query.get("q") or None)
        limit = int_param(request, "limit", DEFAULT_LIMIT)
        if limit < 1:  # ListJobs reads 0 as its default
            raise InvalidArgument("limit", f"{limit} is less than 1")
        page = await self._use.list_jobs(where, limit, query.get("page_token", ""), count=True, size_field="limit")
        return web.json_response({"jobs": [row(j, page.at) for j in page.jobs], "next_page_token": page.next_token,
                                  "total": page.total, "total_capped": page.total_capped})

    async def job(self, request: web.Request) -> web.Response:
        job, events = await self._use.get_job(request.match_info["job_id"])
        return web.json_response({"job": self._detail(job), "events": [views.event(e) for e in events]})

    async def cancel(self, request: web.Request) -> web.Response:
        await fields(request, ())
        job = await _written(request, lambda: self._use.cancel(request.match_info["job_id"]))
        return web.json_response({"job": self._detail(job)})

    async def retry(self, request: web.Request) -> web.Response:
        reset = (await fields(request, ("reset_attempts",))).get("reset_attempts", True)
        if not isinstance(reset, bool):
            raise InvalidArgument("reset_attempts", "must be true or false")
        job = await _written(request, lambda: self._use.retry(request.match_info["job_id"], reset))
        return web.json_response({"job": self._detail(job)})

    async def purge(self, request: web.Request) -> web.Response:
        ids, queue, body = await targets(request, ("state",))
        state = body.get("state", JobState.DEAD.value)
        if state not in _PURGEABLE:
            raise InvalidArgument("state", f"{str(state)[:40]!r} is not one of {'|'.join(_PURGEABLE)}")
        return web.json_response({"purged": await self._use.purge(ids, queue, _PURGEABLE[state])})

    async def controls(self, request: web.Request) -> web.Response:
        body = await fields(request, ("paused", *_LIMITS, "rate_limit"), empty_ok=False)
        change = ControlsChange(paused=_flag(body, "paused"), rate_limit=_rate(body),
                                **{name: _count(body, name) for name in _LIMITS})
        name = request.match_info["queue"]
        controls = await _named(self._use.update_queue(name, change))
        return web.json_response({"queue": name, "controls": views.controls(controls)})

    async def breaker(self, request: web.Request) -> web.Response:
        action = (await fields(request, ("action",), empty_ok=False)).get("action")
        if action not in _ACTIONS:
            raise InvalidArgument("action", f"expected one of {'|'.join(_ACTIONS)}")
        name = request.match_info["queue"]
        controls = await _named(self._use.update_queue(name, ControlsChange(), BreakerChange(force=_ACTIONS[action])))
        b = controls.breaker
        return web.json_response({"queue": name, "breaker": b.state.value if b else None,
                                  "forced": b.forced if b else False})

    def _detail(self, job: Job) -> dict:
        clock = self._use.clock
        return {**views.job_detail(job), "view_state": view_of(job, clock.now()).value if clock else None}


def row(job: Job, at) -> dict:
    """A job in a listing: its summary with its view (as judged at `at`), keys and lease."""
    return {**views.job_summary(job), "view_state": view_of(job, at).value, "idempotency_key": job.idempotency_key,
            "concurrency_key": job.concurrency_key, "progress": views.progress(job.progress),
            "lease_expires_at": views.when(job.lease_expires_at)}


async def _written(request: web.Request, write: Callable[[], Awaitable[Job]]) -> Job:
    """Run a write with the caller's request id, which the job log lines of the change carry."""
    token = context.request_id.set(request_id(request))
    try:
        return await write()
    finally:
        context.request_id.reset(token)


async def _named(update: Awaitable):
    """UpdateQueue names the queue `name`; here it is the path's `queue`."""
    try:
        return await update
    except InvalidArgument as exc:
        raise (InvalidArgument("queue", exc.problem) if exc.field == "name" else exc) from None


def _flag(body: dict, name: str) -> bool | None:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(name, "must be true or false")
    return value


def _count(body: dict, name: str) -> int | None:
    """A limit: a whole number, null (or 0) removing it; absent: unchanged. A burst has no
    removal of its own (it goes with its rate): null leaves it."""
    if name not in body:
        return None
    value = body[name]
    if value is None:
        return None if name == "rate_burst" else 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(name, "must be a whole number or null")
    return value


def _rate(body: dict) -> float | None:
    if "rate_limit" not in body:
        return None
    value = body["rate_limit"]
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidArgument("rate_limit", "must be a number of jobs per second or null")
    return float(value)
