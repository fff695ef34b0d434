"""The webhook settings and the sources file: read once at start-up, every mistake named."""

from __future__ import annotations

import base64
import json

import pytest

from broker.entities.webhook import SCHEMES, DeliveryId
from broker.infra import settings
from broker.infra.env import SettingsError

WHSEC = "whsec_" + base64.b64encode(b"settings test secret").decode()
GOOD = f"""
[sources.billing]
scheme = "standard"
queue = "invoices"
kind = "invoice.event"
secrets = ["{WHSEC}"]

[sources.gh]
scheme = "github"
queue = "github"
kind = "github.event"
secret_env = ["GH_OLD", "GH_NEW"]
headers = ["X-Custom"]

[sources.pay]
scheme = "stripe"
queue = "payments"
kind = "stripe.event"
secret = "whsec_stripe"
"""


def load(tmp_path, text: str, name: str = "sources.toml", **env):
    path = tmp_path / name
    path.write_text(text)
    return settings.load({"BROKER_WEBHOOK_SOURCES_FILE": str(path), **env})


def test_defaults_without_a_file():
    w = settings.load({}).webhooks
    assert (w.tolerance, w.max_body, w.sources_file, w.sources) == (300.0, 1024 * 1024, None, {})


def test_a_sources_file_with_each_scheme(tmp_path):
    w = load(tmp_path, GOOD, GH_OLD="old", GH_NEW="new", BROKER_WEBHOOK_TOLERANCE="60",
             BROKER_WEBHOOK_MAX_BODY="4096").webhooks
    assert (w.tolerance, w.max_body) == (60.0, 4096)
    billing, gh, pay = w.sources["billing"], w.sources["gh"], w.sources["pay"]
    assert billing.scheme is SCHEMES["standard"] and billing.keys == (b"settings test secret",)
    assert billing.delivery_id == DeliveryId("header", "webhook-id")
    assert gh.keys == (b"old", b"new") and gh.delivery_id == DeliveryId("header", "x-github-delivery")
    assert gh.keep_headers == ("x-github-event", "x-github-hook-id", "content-type", "x-custom")
    assert pay.keys == (b"whsec_stripe",) and pay.delivery_id == DeliveryId("json", "id")
    assert (pay.queue, pay.kind) == ("payments", "stripe.event")


def test_json_files_too(tmp_path):
    doc = {"sources": {"a": {"scheme": "github", "queue": "q", "kind": "k", "secret": "s",
                             "delivery_id": "json:delivery.id"}}}
    w = load(tmp_path, json.dumps(doc), "sources.json").webhooks
    assert w.sources["a"].delivery_id == DeliveryId("json", "delivery.id")


@pytest.mark.parametrize("text, message", [
    ("[sources.x]\nscheme='svix'\nqueue='q'\nkind='k'\nsecret='s'", "scheme must be one of"),
    ("[sources.x]\nscheme='github'\nqueue='a b'\nkind='k'\nsecret='s'", "queue"),
    ("[sources.x]\nscheme='github'\nqueue='q'\nsecret='s'", "kind must be"),
    ("[sources.x]\nscheme='github'\nqueue='q'\nkind='k'", "give 1 to 4 secrets"),
    ("[sources.x]\nscheme='github'\nqueue='q'\nkind='k'\nsecret='s'\nsecrte='t'", "unknown key(s) secrte"),
    ("[sources.x]\nscheme='github'\nqueue='q'\nkind='k'\nsecret_env='NOPE'", "NOPE, which is not set"),
    ("[sources.x]\nscheme='standard'\nqueue='q'\nkind='k'\nsecret='whsec_**'", "secret #1 is not a standard"),
    ("[sources.x]\nscheme='github'\nqueue='q'\nkind='k'\nsecret='s'\ndelivery_id='id'", "delivery_id"),
    ("[sources.Big]\nscheme='github'\nqueue='q'\nkind='k'\nsecret='s'", "lower-case"),
    ("[other]\n", "one table `sources`"),
    ("not toml [", "not valid TOML"),
])
def test_a_bad_sources_file_stops_start_up_naming_the_problem(tmp_path, text, message):
    with pytest.raises(SettingsError) as err:
        load(tmp_path, text)
    assert "BROKER_WEBHOOK_SOURCES_FILE=" in str(err.value) and message in str(err.value)
    assert "whsec_**" not in str(err.value)  # a secret is never echoed


def test_a_missing_file_and_contradicting_limits_stop_start_up(tmp_path):
    with pytest.raises(SettingsError, match="cannot read it"):
        settings.load({"BROKER_WEBHOOK_SOURCES_FILE": str(tmp_path / "none.toml")})
    with pytest.raises(SettingsError, match="BROKER_WEBHOOK_MAX_BODY=2048: must be 1 to BROKER_MAX_PAYLOAD_BYTES"):
        settings.load({"BROKER_WEBHOOK_MAX_BODY": "2048", "BROKER_MAX_PAYLOAD_BYTES": "1024"})
    with pytest.raises(SettingsError, match="BROKER_WEBHOOK_TOLERANCE"):
        settings.load({"BROKER_WEBHOOK_TOLERANCE": "-1"})
    with pytest.raises(SettingsError, match="BROKER_MAX_KEY_LENGTH=40 cannot hold"):
        load(tmp_path, "[sources.x]\nscheme='github'\nqueue='q'\nkind='k'\nsecret='s'", BROKER_MAX_KEY_LENGTH="40")
