"""Inbound webhook settings: the tolerance, the body cap, and the sources file (TOML or JSON) read
once at start-up. Secrets may stay out of the file: `secret_env` names environment variables
that hold them. Any problem stops start-up with a message naming the file, source and key."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field

from broker.entities.errors import InvalidArgument
from broker.entities.queue import Limits
from broker.entities.webhook import SCHEMES, SOURCE_NAME, DeliveryId, WebhookSource, longest_key
from broker.infra.env import Env, SettingsError

KEYS = {"scheme", "queue", "kind", "secret", "secrets", "secret_env", "delivery_id", "headers"}
MAX_SECRETS = 4  # two is a rotation; a few more leave room, an unbounded list is a mistake


@dataclass(frozen=True)
class WebhookSettings:
    tolerance: float = 300.0           # seconds a signed timestamp may be off, either way
    max_body: int = 1024 * 1024        # bytes; at most BROKER_MAX_PAYLOAD_BYTES
    sources_file: str | None = None    # BROKER_WEBHOOK_SOURCES_FILE
    sources: dict[str, WebhookSource] = field(default_factory=dict)


def read_webhooks(e: Env, limits: Limits, environ: Mapping[str, str]) -> WebhookSettings:
    d = WebhookSettings()
    tolerance = e.get("BROKER_WEBHOOK_TOLERANCE", d.tolerance, float)
    max_body = e.get("BROKER_WEBHOOK_MAX_BODY", d.max_body, int)
    if max_body < 1 or max_body > limits.max_payload_bytes:
        raise SettingsError(f"BROKER_WEBHOOK_MAX_BODY={max_body}: must be 1 to BROKER_MAX_PAYLOAD_BYTES "
                            f"({limits.max_payload_bytes}): the body becomes the job's payload")
    path = e.get("BROKER_WEBHOOK_SOURCES_FILE", None)
    sources = load_sources(path, limits, environ) if path else {}
    return WebhookSettings(tolerance, max_body, path, sources)


def load_sources(path: str, limits: Limits, environ: Mapping[str, str]) -> dict[str, WebhookSource]:
    where = f"BROKER_WEBHOOK_SOURCES_FILE={path!r}"
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as exc:
        raise SettingsError(f"{where}: cannot read it ({exc.strerror})") from None
    try:
        doc = json.loads(text) if path.endswith(".json") else tomllib.loads(text.decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{where}: not valid {'JSON' if path.endswith('.json') else 'TOML'} ({exc})") from None
    table = doc.get("sources") if isinstance(doc, dict) else None
    if not isinstance(table, dict) or set(doc) - {"sources"}:
        raise SettingsError(f"{where}: expected one table `sources` with a table per source")
    return {name: _source(f"{where}: source {name!r}", name, spec, limits, environ)
            for name, spec in table.items()}


def _source(where: str, name: str, spec: object, limits: Limits, environ: Mapping[str, str]) -> WebhookSource:
    if not SOURCE_NAME.match(name):
        raise SettingsError(f"{where}: a name is 1-64 lower-case letters, digits, _ and - (it is in the URL)")
    if not isinstance(spec, dict):
        raise SettingsError(f"{where}: expected a table")
    unknown = set(spec) - KEYS
    if unknown:
        raise SettingsError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KEYS))}")
    scheme = SCHEMES.get(spec.get("scheme", ""))
    if scheme is None:
        raise SettingsError(f"{where}: scheme must be one of {', '.join(SCHEMES)}")
    queue, kind = _text(where, spec, "queue"), _text(where, spec, "kind")
    try:
        limits.check_queue_name(queue, "queue")
    except InvalidArgument as exc:
        raise SettingsError(f"{where}: {exc}") from None
    if len(kind) > limits.max_kind_length:
        raise SettingsError(f"{where}: kind is over BROKER_MAX_KIND_LENGTH ({limits.max_kind_length})")
    if longest_key(name) > limits.max_key_length:
        raise SettingsError(f"{where}: BROKER_MAX_KEY_LENGTH={limits.max_key_length} cannot hold its "
                            f"idempotency keys (up to {longest_key(name)} characters)")
    default_id = f"header:{scheme.id_header}" if scheme.id_header else "json:id"
    try:
        delivery_id = DeliveryId.parse(str(spec.get("delivery_id", default_id)))
    except ValueError as exc:
        raise SettingsError(f"{where}: delivery_id {exc}") from None
    headers = _names(where, spec, "headers")
    keep = tuple(dict.fromkeys([*scheme.keep, "content-type", *(h.lower() for h in headers)]))
    return WebhookSource(name, scheme, _keys(where, scheme, spec, environ), queue, kind, delivery_id, keep)


def _keys(where: str, scheme, spec: dict, environ: Mapping[str, str]) -> tuple[bytes, ...]:
    secrets = _names(where, spec, "secret") + _names(where, spec, "secrets")
    for var in _names(where, spec, "secret_env"):
        value = environ.get(var, "")
        if not value:
            raise SettingsError(f"{where}: secret_env names {var}, which is not set or empty")
        secrets.append(value)
    if not 1 <= len(secrets) <= MAX_SECRETS:
        raise SettingsError(f"{where}: give 1 to {MAX_SECRETS} secrets (secret, secrets or secret_env); "
                            "two are valid at once while one is rotated")
    keys = []
    for i, secret in enumerate(secrets):
        try:
            keys.append(scheme.key(secret))
        except ValueError as exc:  # the secret itself is never echoed
            raise SettingsError(f"{where}: secret #{i + 1} is not a {scheme.name} secret ({exc})") from None
    return tuple(keys)


def _text(where: str, spec: dict, key: str) -> str:
    value = spec.get(key)
    if not isinstance(value, str) or not value:
        raise SettingsError(f"{where}: {key} must be a non-empty string")
    return value


def _names(where: str, spec: dict, key: str) -> list[str]:
    value = spec.get(key, [])
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SettingsError(f"{where}: {key} must be a string or a list of non-empty strings")
    return list(value)
