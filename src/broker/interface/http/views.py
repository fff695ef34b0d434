"""Entities as the JSON the dashboard API returns. Times are ISO 8601 in UTC; durations seconds."""

from __future__ import annotations

from datetime import datetime

from broker.entities.job import Event, Job
from broker.entities.queue_state import QueueControls
from broker.entities.stats import MinuteCounts, QueueStats, WindowCounts, WorkerLeases

PAYLOAD_PREVIEW_BYTES = 64 * 1024


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def window(w: WindowCounts) -> dict:
    return {"enqueued": w.enqueued, "succeeded": w.succeeded, "failed": w.failed,
            "dead_lettered": w.dead_lettered, "failure_rate": w.failure_rate}


def queue_stats(q: QueueStats, c: QueueControls | None = None) -> dict:
    """A queue's stats, its breaker's state and its flow controls (`running` is the concurrency in use)."""
    return {"queue": q.queue, "ready": q.ready, "scheduled": q.scheduled, "retrying": q.retrying,
            "running": q.running, "succeeded": q.succeeded, "dead": q.dead, "cancelled": q.cancelled,
            "oldest_ready_age_seconds": q.oldest_ready_age,
            "last_minute": window(q.last_minute), "last_hour": window(q.last_hour), "breaker": q.breaker,
            "controls": controls(c or QueueControls(q.queue))}


def controls(c: QueueControls) -> dict:
    return {"paused": c.paused, "concurrency_limit": c.concurrency_limit,
            "per_key_concurrency": c.per_key_concurrency, "rate_limit": c.rate_limit, "rate_burst": c.rate_burst}


def worker(w: WorkerLeases) -> dict:
    return {"worker_id": w.worker_id, "queue": w.queue, "leases": w.leases,
            "last_heartbeat": when(w.last_heartbeat)}


def minute(m: MinuteCounts) -> dict:
    return {"queue": m.queue, "minute": when(m.minute), **window(m.counts)}


def job_summary(job: Job) -> dict:
    return {"id": job.id, "queue": job.queue, "kind": job.kind, "state": job.state.value,
            "attempt": job.attempt, "max_attempts": job.max_attempts, "priority": job.priority,
            "last_error": job.last_error, "worker_id": job.worker_id, "run_at": when(job.run_at),
            "created_at": when(job.created_at), "updated_at": when(job.updated_at),
            "finished_at": when(job.finished_at)}


def job_detail(job: Job) -> dict:
    preview = job.payload[:PAYLOAD_PREVIEW_BYTES].decode("utf-8", errors="replace")
    result = job.result[:PAYLOAD_PREVIEW_BYTES].decode("utf-8", errors="replace") if job.result is not None else None
    return {**job_summary(job), "headers": job.headers, "idempotency_key": job.idempotency_key,
            "concurrency_key": job.concurrency_key,
            "payload_bytes": len(job.payload), "payload_preview": preview, "payload_ref": _ref(job),
            "result_bytes": len(job.result) if job.result is not None else None, "result_preview": result,
            "lease_expires_at": when(job.lease_expires_at), "snoozes": job.snoozes,
            "progress": progress(job.progress),
            "errors": [{"attempt": e.attempt, "error": e.error, "at": when(e.at)} for e in job.errors]}


def _ref(job: Job) -> dict | None:
    """A payload kept as an object: where it is (never a URL to it)."""
    r = job.payload_ref
    return None if r is None else {"key": r.key, "size": r.size, "sha256": r.sha256}


def event(e: Event) -> dict:
    return {"id": e.id, "at": when(e.at), "from": e.from_state.value if e.from_state else None,
            "to": e.to_state.value, "reason": e.reason.value, "attempt": e.attempt,
            "worker_id": e.worker_id, "error": e.error, "progress": progress(e.progress)}


def progress(p) -> dict | None:
    """A job's or event's progress (broker.entities.progress.Progress), None when there is none."""
    return None if p is None else {"fraction": p.fraction, "message": p.message, "at": when(p.at)}


def schedule(s) -> dict:
    """A schedule for the dashboard's list (broker.entities.schedule.Schedule)."""
    d = s.definition
    return {"name": d.name, "cron": d.cron, "time_zone": d.time_zone, "queue": d.job.queue, "kind": d.job.kind,
            "missed": d.missed.value, "catch_up_limit": d.catch_up_limit, "paused": s.paused,
            "declared": s.declared, "next_fire_at": when(s.next_fire_at), "last_fire_at": when(s.last_fire_at),
            "last_job_id": s.last_job_id}


def subscription(s) -> dict:
    """A callback subscription for the dashboard (broker.entities.callback.Subscription), without
    its secrets."""
    return {"name": s.name, "url": s.url, "events": [e.value for e in s.events], "queue": s.queue, "kind": s.kind,
            "max_attempts": s.max_attempts, "secret_count": len(s.secrets), "updated_at": when(s.updated_at)}
