"""The dashboard's workers, queue health and latency endpoints (contract: docs/observability.md,
"JSON API"): GET /api/workers and /api/latency, and the `workers` and `problems` of each queue row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aiohttp import web

from broker.entities.errors import InvalidArgument
from broker.entities.latency import Summary
from broker.entities.queue_state import QueueControls
from broker.entities.stats import QueueStats, WorkerLeases
from broker.entities.workers import WorkerView
from broker.interface.http import views
from broker.usecases.workers.latency import ReadLatency
from broker.usecases.workers.listing import ListWorkers


@dataclass(frozen=True)
class WorkerUseCases:
    list: ListWorkers
    latency: ReadLatency


def add_routes(app: web.Application, use: WorkerUseCases) -> None:
    routes = _Routes(use)
    app.router.add_get("/api/workers", routes.workers)
    app.router.add_get("/api/latency", routes.latency)


async def queue_rows(use: WorkerUseCases | None, found: Sequence[tuple[QueueStats, QueueControls | None]],
                     leases: Sequence[WorkerLeases]) -> list[dict]:
    """views.queue_stats of each queue, with the workers seen for it and its problems."""
    if use is None:
        return [views.queue_stats(q, c) for q, c in found]
    counts = await use.list.counts(leases)
    rows = []
    for q, c in found:
        n = counts[q.queue].workers if q.queue in counts else 0
        rows.append({**views.queue_stats(q, c), "workers": n,
                     "problems": [{"code": p.code, "message": p.message} for p in use.list.problems(q, c, n)]})
    return rows


class _Routes:
    def __init__(self, use: WorkerUseCases) -> None:
        self._use = use

    async def workers(self, _request: web.Request) -> web.Response:
        view = await self._use.list()
        return web.json_response({"at": views.when(view.at), "workers": [_worker(w) for w in view.workers],
                                  "queues": {q: {"workers": n.workers, "leases": n.leases}
                                             for q, n in view.queues.items()}})

    async def latency(self, request: web.Request) -> web.Response:
        raw = request.query.get("minutes", "")
        try:
            minutes = int(raw) if raw != "" else 60
        except ValueError:
            raise InvalidArgument("minutes", f"{raw[:40]!r} is not a whole number") from None
        found = await self._use.latency(request.query.getall("queue", []), minutes)
        return web.json_response({"minutes": minutes, "buckets": [
            {"queue": m.queue, "minute": views.when(m.minute), "pickup": _summary(m.pickup), "run": _summary(m.run)}
            for m in found]})


def _worker(w: WorkerView) -> dict:
    return {"worker_id": w.worker_id, "queues": list(w.queues), "leases": w.leases,
            "held": [{"job_id": h.job_id, "queue": h.queue, "kind": h.kind,
                      "lease_expires_at": views.when(h.lease_expires_at)} for h in w.held],
            "last_seen": views.when(w.last_seen), "waiting": w.waiting, "idle": w.idle}


def _summary(s: Summary) -> dict:
    return {"count": s.count, "p50": s.p50, "p95": s.p95, "p99": s.p99}
