"""The request limits and the queue defaults, each read from one setting (the README's settings
table lists them all)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from broker.entities.errors import InvalidArgument
from broker.entities.queue import MAX_DURATION, Limits, QueueConfig, QueueDefaults
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra.env import Env, SettingsError

# Every field of Limits: its setting and the least value that makes sense.
LIMIT_SETTINGS: dict[str, tuple[str, type, float]] = {
    "max_queue_name_length": ("BROKER_MAX_QUEUE_NAME_LENGTH", int, 1),
    "max_payload_bytes": ("BROKER_MAX_PAYLOAD_BYTES", int, 0),
    "max_headers_bytes": ("BROKER_MAX_HEADERS_BYTES", int, 0),
    "max_kind_length": ("BROKER_MAX_KIND_LENGTH", int, 1),
    "max_key_length": ("BROKER_MAX_KEY_LENGTH", int, 1),
    "max_worker_id_length": ("BROKER_MAX_WORKER_ID_LENGTH", int, 1),
    "max_batch": ("BROKER_MAX_BATCH", int, 1),
    "min_lease": ("BROKER_MIN_LEASE", float, 0),
    "max_lease": ("BROKER_MAX_LEASE", float, 0),
    "max_attempts": ("BROKER_MAX_ATTEMPTS_LIMIT", int, 1),
    "max_wait": ("BROKER_MAX_WAIT", float, 0),
    "max_queue_names": ("BROKER_MAX_QUEUE_NAMES", int, 1),
    "max_error_chars": ("BROKER_MAX_ERROR_CHARS", int, 1),
    "max_retry_after": ("BROKER_MAX_RETRY_AFTER", float, 0),
    "default_page_size": ("BROKER_DEFAULT_PAGE_SIZE", int, 1),
    "max_result_bytes": ("BROKER_MAX_RESULT_BYTES", int, 0),
    "max_snooze": ("BROKER_MAX_SNOOZE", float, 0),
    "max_progress_chars": ("BROKER_MAX_PROGRESS_CHARS", int, 0),
}
# Every field of QueueDefaults (the retry policy in four): its setting for all queues, and its key
# in BROKER_QUEUES for one queue.
QUEUE_SETTINGS = {
    "max_attempts": "BROKER_DEFAULT_MAX_ATTEMPTS",
    "max_lease_expiries": "BROKER_DEFAULT_MAX_LEASE_EXPIRIES",
    "lease_duration": "BROKER_DEFAULT_LEASE",
    "retry_initial": "BROKER_RETRY_INITIAL",
    "retry_max": "BROKER_RETRY_MAX",
    "retry_multiplier": "BROKER_RETRY_MULTIPLIER",
    "retry_jitter": "BROKER_RETRY_JITTER",
}


def read_limits(e: Env) -> Limits:
    d = Limits()
    values = {}
    for name, (setting, cast, least) in LIMIT_SETTINGS.items():
        value = values[name] = e.get(setting, getattr(d, name), cast)
        if value < least:
            raise SettingsError(f"{setting}={value}: must be at least {least:g}")
        if cast is float and value > MAX_DURATION:
            raise SettingsError(f"{setting}={value:g}: at most {MAX_DURATION:g} seconds (ten years)")
    limits = Limits(**values)
    if limits.max_lease < limits.min_lease:
        raise SettingsError(f"BROKER_MAX_LEASE={limits.max_lease:g} is less than BROKER_MIN_LEASE={limits.min_lease:g}")
    if limits.default_page_size > limits.max_batch:
        raise SettingsError(f"BROKER_DEFAULT_PAGE_SIZE={limits.default_page_size} is more than "
                            f"BROKER_MAX_BATCH={limits.max_batch}, the largest page")
    return limits


def read_queues(e: Env, limits: Limits) -> QueueConfig:
    flat = {key: e.env.get(setting) for key, setting in QUEUE_SETTINGS.items()}
    default = _queue_defaults({k: v for k, v in flat.items() if v}, QueueDefaults(), "BROKER_DEFAULT_*/BROKER_RETRY_*")
    _check_within(default, limits, QUEUE_SETTINGS.__getitem__)
    try:
        per_queue = json.loads(e.env.get("BROKER_QUEUES") or "{}")
        assert isinstance(per_queue, dict)
    except (ValueError, AssertionError):
        raise SettingsError('BROKER_QUEUES: expected a JSON object like {"emails": {"max_attempts": 5}}') from None
    overrides = {}
    for name, raw in per_queue.items():
        overrides[name] = _queue_defaults(raw, default, f"BROKER_QUEUES[{name!r}]")
        _check_within(overrides[name], limits, lambda key, name=name: f"BROKER_QUEUES[{name!r}].{key}")
    return QueueConfig(default, overrides)


def _queue_defaults(raw: Mapping, base: QueueDefaults, where: str) -> QueueDefaults:
    unknown = set(raw) - set(QUEUE_SETTINGS)
    if unknown:
        raise SettingsError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(QUEUE_SETTINGS)}")
    try:
        retry = RetryPolicy(
            float(raw.get("retry_initial", base.retry.initial_delay)),
            float(raw.get("retry_max", base.retry.max_delay)),
            float(raw.get("retry_multiplier", base.retry.multiplier)),
            Jitter(raw.get("retry_jitter", base.retry.jitter.value)),
        )
        lapses = int(raw.get("max_lease_expiries", base.max_lease_expiries))
        if lapses < 1:
            raise ValueError(f"max_lease_expiries must be at least 1, not {lapses}")
        return QueueDefaults(int(raw.get("max_attempts", base.max_attempts)), retry,
                             float(raw.get("lease_duration", base.lease_duration)), lapses)
    except (InvalidArgument, ValueError) as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _check_within(d: QueueDefaults, limits: Limits, setting: Callable[[str], str]) -> None:
    """A default outside the limits would refuse every job that leaves the field unset."""
    if not limits.min_lease <= d.lease_duration <= limits.max_lease:
        raise SettingsError(f"{setting('lease_duration')}={d.lease_duration:g}: outside BROKER_MIN_LEASE to "
                            f"BROKER_MAX_LEASE ({limits.min_lease:g}s to {limits.max_lease:g}s)")
    for key in ("max_attempts", "max_lease_expiries"):
        value = getattr(d, key)
        if not 1 <= value <= limits.max_attempts:
            raise SettingsError(f"{setting(key)}={value}: outside 1 to BROKER_MAX_ATTEMPTS_LIMIT ({limits.max_attempts})")
