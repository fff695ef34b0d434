"""A webhook source as asked for (SourceSpec), checked field by field; the source it makes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from broker.entities.errors import FailedPrecondition, InvalidArgument
from broker.entities.job import check_storable
from broker.entities.queue import Limits, check_not_internal
from broker.entities.webhook import SCHEMES, SOURCE_NAME, DeliveryId, WebhookSource, longest_key

MAX_SECRETS = 4  # as in the sources file (infra/webhook_settings.py)
MAX_HEADERS = 16


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source: its scheme, secrets (two while one rotates), where its jobs go, where its
    delivery id is (empty: the scheme's default) and more request headers to keep on the job.
    Stored as given; `declared` for those of BROKER_WEBHOOK_SOURCES_FILE (never stored)."""

    name: str
    scheme: str
    queue: str
    kind: str
    secrets: tuple[str, ...] = ()
    delivery_id: str = ""
    headers: tuple[str, ...] = ()
    declared: bool = False
    declared_keys: int = 0  # a declared source's secrets, counted (never shown)
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def secret_count(self) -> int:
        return self.declared_keys or len(self.secrets)


def check(spec: SourceSpec, limits: Limits, secrets_required: bool = True) -> SourceSpec:
    """The spec with its defaults resolved, or InvalidArgument naming the field."""
    for field, values in (("scheme", [spec.scheme]), ("delivery_id", [spec.delivery_id]), ("secrets", spec.secrets),
                          ("headers", spec.headers)):
        for value in values:
            check_storable(value, field)  # PostgreSQL text holds no NUL
    if not valid_name(spec.name):
        raise InvalidArgument("name", "1-64 lower-case letters, digits, _ and - (it is in the URL)")
    if longest_key(spec.name) > limits.max_key_length:
        raise InvalidArgument("name", f"too long for BROKER_MAX_KEY_LENGTH ({limits.max_key_length}) to hold its "
                                      "idempotency keys")
    scheme = SCHEMES.get(spec.scheme)
    if scheme is None:
        raise InvalidArgument("scheme", f"{spec.scheme[:40]!r}: one of {', '.join(SCHEMES)}")
    check_not_internal(limits.check_queue_name(spec.queue, "queue"), "queue")
    if not spec.kind or len(spec.kind) > limits.max_kind_length or "\x00" in spec.kind:
        raise InvalidArgument("kind", f"must be 1-{limits.max_kind_length} characters without NUL")
    if spec.secrets or secrets_required:
        _check_secrets(spec, scheme)
    default_id = f"header:{scheme.id_header}" if scheme.id_header else "json:id"
    try:
        DeliveryId.parse(spec.delivery_id or default_id)
    except ValueError as exc:
        raise InvalidArgument("delivery_id", str(exc)) from None
    if len(spec.headers) > MAX_HEADERS:
        raise InvalidArgument("headers", f"{len(spec.headers)} names; at most {MAX_HEADERS}")
    for i, name in enumerate(spec.headers):
        if not name or len(name) > 128 or not name.isascii() or not all(c.isalnum() or c in "-_" for c in name):
            raise InvalidArgument(f"headers[{i}]", "a header name: letters, digits, - and _")
    return replace(spec, delivery_id=spec.delivery_id or default_id,
                   headers=tuple(dict.fromkeys(h.lower() for h in spec.headers)))


def check_not_declared(from_file: Mapping[str, WebhookSource], name: str, verb: str) -> None:
    """A source of BROKER_WEBHOOK_SOURCES_FILE is changed in the file."""
    if name in from_file:
        raise FailedPrecondition(f"webhook source {name!r} is declared in BROKER_WEBHOOK_SOURCES_FILE: "
                                 f"{verb} it there", source=name)


def valid_name(name: str) -> bool:
    """A name a source can have (it is in the URL)."""
    return SOURCE_NAME.fullmatch(name) is not None


def _check_secrets(spec: SourceSpec, scheme) -> None:
    if not 1 <= len(spec.secrets) <= MAX_SECRETS:
        raise InvalidArgument("secrets", f"give 1 to {MAX_SECRETS} secrets; two are valid at once while one rotates")
    for i, secret in enumerate(spec.secrets):
        try:
            scheme.key(secret)
        except ValueError as exc:  # the secret itself is never echoed
            raise InvalidArgument(f"secrets[{i}]", f"not a {scheme.name} secret ({exc})") from None


def source(spec: SourceSpec) -> WebhookSource:
    """The source ReceiveWebhook verifies with, from a checked spec."""
    scheme = SCHEMES[spec.scheme]
    keep = tuple(dict.fromkeys([*scheme.keep, "content-type", *spec.headers]))
    return WebhookSource(spec.name, scheme, tuple(scheme.key(s) for s in spec.secrets), spec.queue, spec.kind,
                         DeliveryId.parse(spec.delivery_id), keep)


def declared(s: WebhookSource) -> SourceSpec:
    """A source of the sources file, as the listing shows it (no secrets)."""
    d = s.delivery_id
    extra = tuple(h for h in s.keep_headers if h not in (*s.scheme.keep, "content-type"))
    return SourceSpec(s.name, s.scheme.name, s.queue, s.kind, (), f"{d.where}:{d.name}", extra, declared=True,
                      declared_keys=len(s.keys))
