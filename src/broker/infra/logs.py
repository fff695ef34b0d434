"""Structured logs: one JSON object per line on stderr, or a human format; and the event sink
that writes one line per job state change."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

import orjson

from broker.entities.job import Event, JobState, Reason
from broker.usecases.context import request_id

_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


# A record may carry `entries`: one output line each (the event sink logs a whole batch of
# state changes as one record, which costs a fraction of one record per change).
ENTRIES = "entries"


def _fields(record: logging.LogRecord) -> dict:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k != ENTRIES}


def _dumps(value: dict) -> str:
    return orjson.dumps(value, default=str).decode()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_fields(record))
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        entries = getattr(record, ENTRIES, None)
        if entries is None:
            return _dumps(line)
        # One encoding of the shared fields, spliced before each entry's own (which carry "msg").
        del line["msg"]
        head = orjson.dumps(line, default=str)[:-1] + b","
        return b"\n".join(head + orjson.dumps(entry, default=str)[1:] for entry in entries).decode()


class HumanFormatter(logging.Formatter):
    """`time LEVEL logger: message key=value ...`; an entry's own `msg` replaces the record's."""

    def format(self, record: logging.LogRecord) -> str:
        base = super().format(record)
        common = " ".join(f"{k}={v}" for k, v in _fields(record).items() if v is not None)
        entries = getattr(record, ENTRIES, None)
        if entries is None:
            return f"{base} {common}" if common else base
        prefix = base[: len(base) - len(record.getMessage())]
        lines = []
        for entry in entries:
            extra = " ".join(f"{k}={v}" for k, v in entry.items() if v is not None and k != "msg")
            head = prefix + str(entry.get("msg", record.getMessage()))
            lines.append(" ".join(part for part in (head, common, extra) if part))
        return "\n".join(lines)


class RequestIdFilter(logging.Filter):
    """Binds the current call's request id to every line logged while serving it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            rid = request_id.get()
            if rid is not None:
                record.request_id = rid
        return True


def configure(level: str = "INFO", fmt: str = "json", stream=None) -> None:
    """Route every log line to stderr (stdout stays free for command output)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else
                         HumanFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Neither format shows the thread, the process or the source line: skip collecting them for
    # every record (a getpid() system call and a walk up the stack each; the logging HOWTO's
    # "Optimization" section names these switches).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]


class LogEventSink:
    """One structured log line per job state change (logger `broker.jobs`), written as one
    record per batch with an entry per change."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or logging.getLogger("broker.jobs")

    def record(self, events: Sequence[Event]) -> None:
        if not events or not self._log.isEnabledFor(logging.INFO):
            return
        entries = []
        for e in events:  # a hot path (every lease and ack): enum values come from dicts
            entry = {
                "msg": _MESSAGES[e.reason], "job_id": e.job_id, "queue": e.queue, "kind": e.kind,
                "attempt": e.attempt, "from": _VALUES[e.from_state], "to": _VALUES[e.to_state],
                "reason": _VALUES[e.reason], "worker": e.worker_id, "error": e.error,
            }
            if e.waited is not None:
                entry["waited_seconds"] = round(e.waited, 6)
            if e.ran is not None:
                entry["ran_seconds"] = round(e.ran, 6)
            if e.progress is not None:
                entry["progress"], entry["progress_message"] = e.progress.fraction, e.progress.message
            entries.append(entry)
        self._log.info("job state changes", extra={ENTRIES: entries, "request_id": request_id.get()})


_MESSAGES = {r: f"job {r.value}" for r in Reason}
_VALUES: dict = {None: None, **{s: s.value for s in JobState}, **{r: r.value for r in Reason}}


class FanOutSink:
    """Tells several sinks (logs, metrics) of the same events."""

    def __init__(self, *sinks) -> None:
        self._sinks = sinks

    def record(self, events: Sequence[Event]) -> None:
        for sink in self._sinks:
            sink.record(events)
