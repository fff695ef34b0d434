"""BROKER_SCHEDULES_FILE: the declared schedules, in TOML (README, "Schedules"). Read here into
definitions; ApplyDeclared checks them as the API would and makes them the desired state."""

from __future__ import annotations

import tomllib
from typing import Any

from broker.entities.retry import Jitter
from broker.entities.schedule import JobTemplate, MissedFires, ScheduleDefinition
from broker.infra.env import SettingsError

SETTING = "BROKER_SCHEDULES_FILE"
_SCHEDULE_KEYS = {"name", "cron", "time_zone", "missed", "catch_up_limit", "job"}
_JOB_KEYS = {"queue", "kind", "payload", "headers", "priority", "max_attempts", "lease_duration",
             "max_lease_expiries", "retry"}
_RETRY_KEYS = {"initial_delay", "max_delay", "multiplier", "jitter"}


class _Bad(Exception):
    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")


def read(path: str) -> list[ScheduleDefinition]:
    """The schedules the file declares; SettingsError naming the file and the entry's field."""
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise SettingsError(f"{SETTING}={path!r}: cannot read it ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{SETTING}={path!r}: not valid TOML ({exc})") from None
    try:
        _known(data, {"schedules"}, "file")
        entries = data.get("schedules", [])
        if not isinstance(entries, list):
            raise _Bad("schedules", "must be an array of tables ([[schedules]])")
        return [_definition(entry, f"schedules[{i}]") for i, entry in enumerate(entries)]
    except _Bad as exc:
        raise SettingsError(f"{SETTING}={path!r}: {exc}") from None


def _known(table: Any, keys: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise _Bad(where, "must be a table")
    unknown = sorted(set(table) - keys)
    if unknown:
        raise _Bad(f"{where}.{unknown[0]}", f"unknown key; expected one of {', '.join(sorted(keys))}")


def _get(table: dict, key: str, kind: type | tuple, where: str, default: Any = None) -> Any:
    value = table.get(key, default)
    if value is not default and (not isinstance(value, kind) or isinstance(value, bool) and kind is not bool):
        raise _Bad(f"{where}.{key}", f"must be {_names(kind)}")
    return value


def _names(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join({str: "text", int: "a whole number", float: "a number", dict: "a table"}[k] for k in kinds)


def _definition(entry: Any, where: str) -> ScheduleDefinition:
    _known(entry, _SCHEDULE_KEYS, where)
    missed = _get(entry, "missed", str, where, "skip")
    try:
        policy = MissedFires(missed)
    except ValueError:
        raise _Bad(f"{where}.missed", f"{missed!r}: one of skip, run_once, catch_up") from None
    return ScheduleDefinition(
        name=_get(entry, "name", str, where, ""), cron=_get(entry, "cron", str, where, ""),
        job=_job(entry.get("job"), f"{where}.job"), time_zone=_get(entry, "time_zone", str, where, "UTC"),
        missed=policy, catch_up_limit=_get(entry, "catch_up_limit", int, where, 0))


def _job(job: Any, where: str) -> JobTemplate:
    if job is None:
        raise _Bad(where, "is required: the job each fire enqueues ([schedules.job])")
    _known(job, _JOB_KEYS, where)
    headers = _get(job, "headers", dict, where, {})
    if not all(isinstance(v, str) for v in headers.values()):
        raise _Bad(f"{where}.headers", "values must be text")
    retry = _get(job, "retry", dict, where, {})
    _known(retry, _RETRY_KEYS, f"{where}.retry")
    jitter = _get(retry, "jitter", str, f"{where}.retry")
    try:
        jitter = Jitter(jitter) if jitter is not None else None
    except ValueError:
        raise _Bad(f"{where}.retry.jitter", f"{jitter!r}: one of none, full, equal") from None
    number = (int, float)
    return JobTemplate(
        queue=_get(job, "queue", str, where, ""), kind=_get(job, "kind", str, where, ""),
        payload=_get(job, "payload", str, where, "").encode(), headers=headers,
        priority=_get(job, "priority", int, where, 0), max_attempts=_get(job, "max_attempts", int, where),
        retry_initial=_float(_get(retry, "initial_delay", number, f"{where}.retry")),
        retry_max=_float(_get(retry, "max_delay", number, f"{where}.retry")),
        retry_multiplier=_float(_get(retry, "multiplier", number, f"{where}.retry")), retry_jitter=jitter,
        lease_duration=_float(_get(job, "lease_duration", number, where)),
        max_lease_expiries=_get(job, "max_lease_expiries", int, where))


def _float(value: int | float | None) -> float | None:
    return None if value is None else float(value)
