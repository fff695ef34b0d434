"""The Celery app of the bench: one no-op task on queue `bench`, broker = BENCH_CELERY_BROKER
(a Redis database of its own). With BENCH_RECORD set, each run appends
`<task id> <monotonic start> <monotonic end>` to that file (works across prefork children)."""

from __future__ import annotations

import os
import time

from celery import Celery

app = Celery("bench", broker=os.environ.get("BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/13"))
app.conf.update(task_ignore_result=True, task_default_queue="bench", worker_hijack_root_logger=False)
_RECORD = os.environ.get("BENCH_RECORD")
_fd: list[int] = []


@app.task(name="noop", bind=True)
def noop(self, data: str = "") -> None:
    if _RECORD:
        start = time.monotonic()
        if not _fd:
            _fd.append(os.open(_RECORD, os.O_WRONLY | os.O_CREAT | os.O_APPEND))
        os.write(_fd[0], f"{self.request.id} {start:.6f} {time.monotonic():.6f}\n".encode())
