"""The signature schemes: pure functions of headers, raw body, secrets and the time. Every check
runs on the raw bytes before anything of the body is parsed; HMAC digests are compared in
constant time."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from broker.entities.webhook.errors import BadSignature, MalformedDelivery, StaleDelivery


@dataclass(frozen=True, slots=True)
class Signed:
    """What a verified delivery told: its signed timestamp (None for schemes without one)."""

    timestamp: int | None


def header(headers: Mapping[str, str], name: str) -> str:
    """A header the scheme needs; MalformedDelivery when it is missing or blank."""
    value = headers.get(name, "").strip()
    if not value:
        raise MalformedDelivery(name, "missing")
    return value


def _timestamp(raw: str, name: str) -> int:
    if not re.fullmatch(r"\d{1,12}", raw):
        raise MalformedDelivery(name, "not a Unix time in whole seconds")
    return int(raw)


def raw(text: str) -> bytes:
    """A header's bytes as they came (HTTP servers decode them as UTF-8 with surrogateescape)."""
    return text.encode("utf-8", "surrogateescape")


def check_text(name: str, value: str) -> str:
    """A header value that is to be stored must be valid UTF-8 without NUL characters."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise MalformedDelivery(name, "not valid UTF-8") from None
    if "\x00" in value:
        raise MalformedDelivery(name, "contains a NUL character")
    return value


def _hmac(key: bytes, *parts: bytes) -> bytes:
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(part)
    return mac.digest()


def _any_match(expected: Sequence[bytes], given: Sequence[bytes]) -> bool:
    # Every pair is compared, so the time taken says nothing about which one matched.
    found = False
    for e in expected:
        for g in given:
            found |= hmac.compare_digest(e, g)
    return found


class Scheme:
    """One provider's way of signing: which headers, which signed content, which secret form."""

    name = ""
    id_header: str | None = None  # where the delivery id is by default (None: in the body)
    keep: tuple[str, ...] = ()    # headers kept on the job by default (the event type...)

    def key(self, secret: str) -> bytes:
        """The HMAC key of a configured secret; ValueError when the secret is not of the scheme's form."""
        if not secret:
            raise ValueError("empty secret")
        return secret.encode()

    def verify(self, headers: Mapping[str, str], body: bytes, keys: Sequence[bytes]) -> Signed:
        """Raises MalformedDelivery or BadSignature; `headers` have lower-case names."""
        raise NotImplementedError

    def sign(self, key: bytes, body: bytes, delivery_id: str, timestamp: int) -> dict[str, str]:
        """The headers a sender of this scheme adds (for senders, the docs and the tests)."""
        raise NotImplementedError


class StandardWebhooks(Scheme):
    """standardwebhooks.com: `webhook-signature: v1,<base64>` (several, space-separated) of the
    HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64 secret after `whsec_`."""

    name, id_header, keep = "standard", "webhook-id", ()

    def key(self, secret: str) -> bytes:
        raw = secret.removeprefix("whsec_")
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not base64 after the whsec_ prefix") from None
        if not key:
            raise ValueError("empty secret")
        return key

    def verify(self, headers, body, keys):
        msg_id = header(headers, "webhook-id")
        stamp = header(headers, "webhook-timestamp")
        ts = _timestamp(stamp, "webhook-timestamp")
        given = []
        for item in header(headers, "webhook-signature").split():
            version, _, sig = item.partition(",")
            if version == "v1" and sig:
                try:
                    given.append(base64.b64decode(sig, validate=True))
                except (binascii.Error, ValueError):
                    continue
        if not given:
            raise MalformedDelivery("webhook-signature", "no v1,<base64> signature")
        content = raw(f"{msg_id}.{stamp}.")
        if not _any_match([_hmac(k, content, body) for k in keys], given):
            raise BadSignature()
        return Signed(ts)

    def sign(self, key, body, delivery_id, timestamp):
        sig = base64.b64encode(_hmac(key, raw(f"{delivery_id}.{timestamp}."), body)).decode()
        return {"webhook-id": delivery_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{sig}"}


class GitHub(Scheme):
    """GitHub: `X-Hub-Signature-256: sha256=<hex>` of the HMAC-SHA256 of the body. No timestamp is
    signed, so there is no replay window: the delivery id (`X-GitHub-Delivery`) still deduplicates."""

    name, id_header, keep = "github", "x-github-delivery", ("x-github-event", "x-github-hook-id")

    def verify(self, headers, body, keys):
        value = header(headers, "x-hub-signature-256")
        prefix, _, hexsig = value.partition("=")
        if prefix != "sha256" or not re.fullmatch(r"[0-9a-fA-F]{64}", hexsig):
            raise MalformedDelivery("x-hub-signature-256", "expected sha256=<64 hex digits>")
        if not _any_match([_hmac(k, body) for k in keys], [bytes.fromhex(hexsig)]):
            raise BadSignature()
        return Signed(None)

    def sign(self, key, body, delivery_id, timestamp):
        return {"x-hub-signature-256": "sha256=" + _hmac(key, body).hex(), "x-github-delivery": delivery_id}


class Stripe(Scheme):
    """Stripe: `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]` of the HMAC-SHA256 of
    `{t}.{body}`, keyed by the whole secret text (`whsec_...`). The event id is in the body."""

    name, id_header, keep = "stripe", None, ()

    def verify(self, headers, body, keys):
        stamp, given = None, []
        for item in header(headers, "stripe-signature").split(","):
            k, _, v = item.strip().partition("=")
            if k == "t":
                stamp = v
            elif k == "v1" and re.fullmatch(r"[0-9a-fA-F]{64}", v):
                given.append(bytes.fromhex(v))
        if stamp is None:
            raise MalformedDelivery("stripe-signature", "no t=<unix time>")
        ts = _timestamp(stamp, "stripe-signature")
        if not given:
            raise MalformedDelivery("stripe-signature", "no v1=<64 hex digits> signature")
        if not _any_match([_hmac(k, stamp.encode(), b".", body) for k in keys], given):
            raise BadSignature()
        return Signed(ts)

    def sign(self, key, body, delivery_id, timestamp):  # the id is the event's, in the body
        return {"stripe-signature": f"t={timestamp},v1={_hmac(key, str(timestamp).encode(), b'.', body).hex()}"}


SCHEMES: dict[str, Scheme] = {s.name: s for s in (StandardWebhooks(), GitHub(), Stripe())}


def check_fresh(signed: Signed, now: float, tolerance: float) -> None:
    """Refuse a signed timestamp more than `tolerance` seconds from `now` (either way)."""
    if signed.timestamp is not None and abs(now - signed.timestamp) > tolerance:
        raise StaleDelivery(signed.timestamp - now, tolerance)
