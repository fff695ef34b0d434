"""A webhook source's configuration: its scheme and keys, where its jobs go, where the delivery id
is, and the idempotency key made of it."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from broker.entities.webhook.errors import MalformedDelivery
from broker.entities.webhook.schemes import Scheme, header, raw

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True, slots=True)
class DeliveryId:
    """Where a source's delivery id is: a header (`header:<name>`) or a top-level or dotted JSON
    field of the body (`json:<path>`), read only after the signature checked out."""

    where: str  # "header" or "json"
    name: str

    @classmethod
    def parse(cls, text: str) -> DeliveryId:
        where, _, name = text.partition(":")
        if where not in ("header", "json") or not name.strip():
            raise ValueError(f"{text!r}: expected header:<name> or json:<field>")
        return cls(where, name.strip().lower() if where == "header" else name.strip())

    def read(self, headers: Mapping[str, str], body: bytes) -> str:
        if self.where == "header":
            return header(headers, self.name)
        value: object = _json(body)
        for part in self.name.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
            raise MalformedDelivery("body", f"no delivery id at the JSON field {self.name!r}")
        return str(value)


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedDelivery("body", "not JSON (the delivery id is read from it)") from None


@dataclass(frozen=True, slots=True)
class WebhookSource:
    """A configured sender: its scheme, its HMAC keys (two during a rotation), where its jobs go."""

    name: str
    scheme: Scheme
    keys: tuple[bytes, ...]
    queue: str
    kind: str
    delivery_id: DeliveryId
    keep_headers: tuple[str, ...]  # lower-case names copied from the request onto the job


def idempotency_key(source: str, delivery_id: str, max_length: int) -> str:
    """`webhook:<source>:<id>`; an id too long for the key limit, or with characters outside
    printable ASCII, is replaced by its SHA-256 (`webhook:<source>:sha256:<hex>`)."""
    key = f"webhook:{source}:{delivery_id}"
    if len(key) <= max_length and re.fullmatch(r"[\x21-\x7e]+", delivery_id):
        return key
    return f"webhook:{source}:sha256:{hashlib.sha256(raw(delivery_id)).hexdigest()}"


def longest_key(source: str) -> int:
    """The length of a hashed key of this source: the key limit must allow it."""
    return len(f"webhook:{source}:sha256:") + 64
