"""Structured logs: one JSON object per line on stderr, or a human format; and the event sink
that writes one line per job state change."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from broker.entities.job import Event

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


class HumanFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in record.__dict__.items()
                         if k not in _STANDARD and v is not None)
        base = super().format(record)
        return f"{base} {extra}" if extra else base


def configure(level: str = "INFO", fmt: str = "json", stream=None) -> None:
    """Route every log line to stderr (stdout stays free for command output)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         HumanFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class LogEventSink:
    """One structured log line per job state change (logger `broker.jobs`)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("broker.jobs")

    def record(self, events: Sequence[Event], request_id: str | None = None) -> None:
        if not events or not self._log.isEnabledFor(logging.INFO):
            return
        for e in events:
            extra = {
                "job_id": e.job_id, "queue": e.queue, "kind": e.kind, "attempt": e.attempt,
                "from": e.from_state.value if e.from_state else None, "to": e.to_state.value,
                "reason": e.reason.value, "worker": e.worker_id, "error": e.error,
                "request_id": request_id,
            }
            if e.waited is not None:
                extra["waited_seconds"] = round(e.waited, 6)
            if e.ran is not None:
                extra["ran_seconds"] = round(e.ran, 6)
            self._log.info("job %s", e.reason.value, extra=extra)


class FanOutSink:
    """Tells several sinks (logs, metrics) of the same events."""

    def __init__(self, *sinks) -> None:
        self._sinks = sinks

    def record(self, events: Sequence[Event], request_id: str | None = None) -> None:
        for sink in self._sinks:
            sink.record(events, request_id)
