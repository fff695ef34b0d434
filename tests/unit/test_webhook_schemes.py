"""The signature schemes, pure: good, tampered, wrong secret, the second secret of a rotation,
malformed headers; Standard Webhooks signatures made and checked by its reference library
(`standardwebhooks`), GitHub's by the example in its documentation, Stripe's by hand."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from broker.entities.webhook import (SCHEMES, BadSignature, DeliveryId, MalformedDelivery, Signed,
                                     StaleDelivery, check_fresh, idempotency_key, longest_key)

NOW = 1_700_000_000
BODY = b'{"id": "evt_1", "type": "thing.happened", "data": {"n": 1}}'
WHSEC = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes ...").decode()
OTHER_WHSEC = "whsec_" + base64.b64encode(b"another secret, the rotated one").decode()
standard, github, stripe = SCHEMES["standard"], SCHEMES["github"], SCHEMES["stripe"]


def lower(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def reference_headers(secret: str, msg_id: str, ts: int, body: bytes) -> dict[str, str]:
    """Headers as the reference library signs them."""
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature}


# Standard Webhooks


def test_standard_accepts_what_the_reference_library_signs():
    headers = reference_headers(WHSEC, "msg_1", NOW, BODY)
    assert standard.verify(headers, BODY, [standard.key(WHSEC)]) == Signed(NOW)


def test_the_reference_library_accepts_what_the_standard_scheme_signs():
    now = int(datetime.now(timezone.utc).timestamp())  # the library checks against the real clock
    headers = standard.sign(standard.key(WHSEC), BODY, "msg_2", now)
    Webhook(WHSEC).verify(BODY, headers, json_parse=False)  # raises on a mismatch
    with pytest.raises(WebhookVerificationError):
        Webhook(OTHER_WHSEC).verify(BODY, headers, json_parse=False)


def test_standard_refuses_a_tampered_body_a_wrong_secret_and_a_changed_id_or_time():
    headers = reference_headers(WHSEC, "msg_1", NOW, BODY)
    key = standard.key(WHSEC)
    with pytest.raises(BadSignature):
        standard.verify(headers, BODY + b" ", [key])
    with pytest.raises(BadSignature):
        standard.verify(headers, BODY, [standard.key(OTHER_WHSEC)])
    with pytest.raises(BadSignature):
        standard.verify({**headers, "webhook-id": "msg_2"}, BODY, [key])
    with pytest.raises(BadSignature):
        standard.verify({**headers, "webhook-timestamp": str(NOW + 1)}, BODY, [key])


def test_standard_takes_either_secret_during_a_rotation_and_any_listed_signature():
    keys = [standard.key(OTHER_WHSEC), standard.key(WHSEC)]
    assert standard.verify(reference_headers(WHSEC, "m", NOW, BODY), BODY, keys) == Signed(NOW)
    assert standard.verify(reference_headers(OTHER_WHSEC, "m", NOW, BODY), BODY, keys) == Signed(NOW)
    # A sender in the middle of its own rotation sends both signatures, space-separated.
    both = reference_headers(OTHER_WHSEC, "m", NOW, BODY)
    both["webhook-signature"] = "v1a,ignored " + reference_headers(WHSEC, "m", NOW, BODY)["webhook-signature"] + \
        " " + both["webhook-signature"]
    assert standard.verify(both, BODY, [standard.key(WHSEC)]) == Signed(NOW)


@pytest.mark.parametrize("change, field", [
    ({"webhook-id": ""}, "webhook-id"),
    ({"webhook-timestamp": "soon"}, "webhook-timestamp"),
    ({"webhook-timestamp": "1700000000.5"}, "webhook-timestamp"),
    ({"webhook-signature": "v1"}, "webhook-signature"),
    ({"webhook-signature": "v1,not base64!"}, "webhook-signature"),
    ({"webhook-signature": "v2,AAAA"}, "webhook-signature"),
])
def test_standard_refuses_malformed_headers_naming_them(change, field):
    headers = {**reference_headers(WHSEC, "m", NOW, BODY), **change}
    with pytest.raises(MalformedDelivery) as err:
        standard.verify({k: v for k, v in headers.items() if v}, BODY, [standard.key(WHSEC)])
    assert err.value.field == field


def test_standard_secrets_must_be_base64():
    assert standard.key(WHSEC) == b"a secret of thirty-two bytes ..."
    assert standard.key(WHSEC.removeprefix("whsec_").rstrip("=")) == b"a secret of thirty-two bytes ..."
    for bad in ("whsec_***", "whsec_", ""):
        with pytest.raises(ValueError):
            standard.key(bad)


# GitHub


def test_github_matches_the_example_in_its_documentation():
    """docs.github.com, "Validating webhook deliveries": this secret and payload give this signature."""
    headers = {"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    key = github.key("It's a Secret to Everybody")
    assert github.verify(headers, b"Hello, World!", [key]) == Signed(None)  # no timestamp: no replay window
    assert github.sign(key, b"Hello, World!", "d-1", 0)["x-hub-signature-256"] == headers["x-hub-signature-256"]


def test_github_refuses_tampering_and_wrong_secrets_and_takes_a_second_secret():
    key, other = github.key("s3cret"), github.key("n3w")
    headers = github.sign(key, BODY, "d-1", 0)
    with pytest.raises(BadSignature):
        github.verify(headers, BODY[:-1], [key])
    with pytest.raises(BadSignature):
        github.verify(headers, BODY, [other])
    assert github.verify(headers, BODY, [other, key]) == Signed(None)


@pytest.mark.parametrize("value", ["", "sha1=" + "0" * 40, "sha256=xyz", "sha256=" + "0" * 63, "0" * 64])
def test_github_refuses_a_malformed_signature_header(value):
    with pytest.raises(MalformedDelivery):
        github.verify({"x-hub-signature-256": value} if value else {}, BODY, [github.key("s")])


# Stripe


def stripe_header(secret: str, ts: int, body: bytes) -> str:
    """As Stripe documents it: v1 is the hex HMAC-SHA256, keyed by the secret text, of `{t}.{body}`."""
    return f"t={ts},v1={hmac.new(secret.encode(), f'{ts}.'.encode() + body, hashlib.sha256).hexdigest()}"


def test_stripe_accepts_its_documented_signature_and_any_of_several_v1_values():
    key = stripe.key("whsec_stripe_test")
    assert stripe.verify({"stripe-signature": stripe_header("whsec_stripe_test", NOW, BODY)}, BODY, [key]) == Signed(NOW)
    several = f"t={NOW},v1={'0' * 64},v0=abc," + stripe_header("whsec_stripe_test", NOW, BODY).split(",")[1]
    assert stripe.verify({"stripe-signature": several}, BODY, [key]) == Signed(NOW)
    assert stripe.sign(key, BODY, "", NOW) == {"stripe-signature": stripe_header("whsec_stripe_test", NOW, BODY)}


def test_stripe_refuses_tampering_wrong_secrets_and_a_changed_time_and_takes_a_second_secret():
    key, other = stripe.key("whsec_a"), stripe.key("whsec_b")
    headers = {"stripe-signature": stripe_header("whsec_a", NOW, BODY)}
    for body, keys in ((BODY + b"x", [key]), (BODY, [other])):
        with pytest.raises(BadSignature):
            stripe.verify(headers, body, keys)
    moved = {"stripe-signature": headers["stripe-signature"].replace(f"t={NOW}", f"t={NOW - 1}")}
    with pytest.raises(BadSignature):
        stripe.verify(moved, BODY, [key])
    assert stripe.verify(headers, BODY, [other, key]) == Signed(NOW)


@pytest.mark.parametrize("value", ["", "v1=" + "0" * 64, "t=now,v1=" + "0" * 64, f"t={NOW}", f"t={NOW},v1=zz"])
def test_stripe_refuses_a_malformed_signature_header(value):
    with pytest.raises(MalformedDelivery):
        stripe.verify({"stripe-signature": value} if value else {}, BODY, [stripe.key("whsec_a")])


# The timestamp window, delivery ids and keys


def test_a_timestamp_outside_the_tolerance_is_stale_either_way():
    check_fresh(Signed(NOW - 300), NOW, 300)
    check_fresh(Signed(NOW + 300), NOW, 300)
    check_fresh(Signed(None), NOW, 300)  # GitHub signs no time
    with pytest.raises(StaleDelivery, match="301 s old"):
        check_fresh(Signed(NOW - 301), NOW, 300)
    with pytest.raises(StaleDelivery, match="in the future"):
        check_fresh(Signed(NOW + 301), NOW, 300)


def test_delivery_ids_come_from_a_header_or_a_json_field():
    assert DeliveryId.parse("header:Webhook-Id").read({"webhook-id": "m1"}, b"") == "m1"
    assert DeliveryId.parse("json:id").read({}, BODY) == "evt_1"
    assert DeliveryId.parse("json:data.n").read({}, BODY) == "1"
    for rule, body in (("json:missing", BODY), ("json:id", b"not json"), ("json:id", b"[1]"), ("json:id", b'{"id": ""}')):
        with pytest.raises(MalformedDelivery):
            DeliveryId.parse(rule).read({}, body)
    with pytest.raises(MalformedDelivery):
        DeliveryId.parse("header:x-id").read({}, BODY)
    for bad in ("webhook-id", "query:id", "header:"):
        with pytest.raises(ValueError):
            DeliveryId.parse(bad)


def test_idempotency_keys_are_namespaced_and_long_or_odd_ids_hashed():
    assert idempotency_key("gh", "abc-1", 256) == "webhook:gh:abc-1"
    long = idempotency_key("gh", "x" * 300, 256)
    assert long.startswith("webhook:gh:sha256:") and len(long) == longest_key("gh") <= 256
    assert idempotency_key("gh", "with space", 256) != "webhook:gh:with space"
    assert idempotency_key("gh", "x" * 300, 256) == long  # the same id, the same key
