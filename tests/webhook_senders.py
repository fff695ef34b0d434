"""Webhook senders for the tests: a sources file with one source per scheme, and signed headers
for each, the Standard Webhooks ones made by its reference library (`standardwebhooks`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from datetime import datetime, timezone

from standardwebhooks import Webhook

STANDARD_SECRET = "whsec_" + base64.b64encode(b"end-to-end standard secret").decode()
STANDARD_NEXT = "whsec_" + base64.b64encode(b"the secret rotated in").decode()
GITHUB_SECRET, STRIPE_SECRET = "github e2e secret", "whsec_stripe_e2e"
QUEUES = {"std": "wh-standard", "gh": "wh-github", "pay": "wh-stripe"}
ENV = {"WH_GITHUB_SECRET": GITHUB_SECRET}  # the GitHub secret comes by env var name

SOURCES = f"""
[sources.std]
scheme = "standard"
queue = "{QUEUES['std']}"
kind = "standard.event"
secrets = ["{STANDARD_SECRET}", "{STANDARD_NEXT}"]

[sources.gh]
scheme = "github"
queue = "{QUEUES['gh']}"
kind = "github.event"
secret_env = "WH_GITHUB_SECRET"

[sources.pay]
scheme = "stripe"
queue = "{QUEUES['pay']}"
kind = "stripe.event"
secret = "{STRIPE_SECRET}"
"""


def sources_env(tmp_dir, **extra) -> dict[str, str]:
    """The env settings of a broker serving these sources (the file written into `tmp_dir`)."""
    path = tmp_dir / "webhook-sources.toml"
    path.write_text(SOURCES)
    return {"BROKER_WEBHOOK_SOURCES_FILE": str(path), **ENV, **extra}


def standard(body: bytes, msg_id: str, ts: int | None = None, secret: str = STANDARD_SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": signature,
            "content-type": "application/json"}


def github(body: bytes, delivery: str, secret: str = GITHUB_SECRET, event: str = "push") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery, "X-GitHub-Event": event,
            "Content-Type": "application/json"}


def stripe(body: bytes, ts: int | None = None, secret: str = STRIPE_SECRET) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={ts},v1={digest}", "Content-Type": "application/json"}
