"""Inbound webhook sources managed through AdminService, beside those of the sources file: a
source made at run time takes signed deliveries over real HTTP at once (verified, deduplicated,
refused when the signature is wrong), its secret rotates, deleting it makes its URL 404; the
file's sources are listed but changed only in the file; bad input names the field."""

from __future__ import annotations

import uuid

import aiohttp
import grpc
import pytest

from broker.v1 import admin_service_pb2_grpc, webhook_source_pb2 as wpb
from tests import webhook_senders as send
from tests.brokers import fresh_database, running_broker

SECRET, NEXT = send.STANDARD_SECRET, send.STANDARD_NEXT


@pytest.fixture(scope="module")
async def hooks(database_url, tmp_path_factory):
    env = send.sources_env(tmp_path_factory.mktemp("sources"))
    async with fresh_database(database_url) as url, running_broker(url, **env) as broker:
        async with grpc.aio.insecure_channel(broker.grpc_address) as channel:
            yield (f"http://127.0.0.1:{broker.http_port}", admin_service_pb2_grpc.AdminServiceStub(channel),
                   broker.grpc_address)


async def post(base: str, source: str, body: bytes, headers: dict) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/webhooks/{source}", data=body, headers=headers) as r:
            return r.status


def spec(name: str, **fields) -> wpb.WebhookSourceSpec:
    values = dict(name=name, scheme="standard", queue=f"wh-{name}", kind="made.event", secrets=[SECRET])
    values.update(fields)
    return wpb.WebhookSourceSpec(**values)


async def test_a_source_made_at_run_time_takes_deliveries_at_once(hooks):
    base, admin, _ = hooks
    name = f"rt-{uuid.uuid4().hex[:8]}"
    body = b'{"hello": "world"}'
    assert await post(base, name, body, send.standard(body, "m1")) == 404
    made = await admin.CreateWebhookSource(wpb.CreateWebhookSourceRequest(source=spec(name)))
    assert (made.source.secret_count, made.source.declared, list(made.source.spec.secrets)) == (1, False, [])
    assert made.source.spec.delivery_id == "header:webhook-id"
    assert await post(base, name, body, send.standard(body, "m1")) == 201
    assert await post(base, name, body, send.standard(body, "m1")) == 200  # the same delivery id
    assert await post(base, name, body, send.standard(body, "m2", secret=NEXT)) == 401
    await admin.UpdateWebhookSource(wpb.UpdateWebhookSourceRequest(source=spec(name, secrets=[NEXT, SECRET])))
    assert await post(base, name, body, send.standard(body, "m3", secret=NEXT)) == 201
    assert await post(base, name, body, send.standard(body, "m4")) == 201
    got = await admin.GetWebhookSource(wpb.GetWebhookSourceRequest(name=name))
    assert got.source.secret_count == 2 and got.source.spec.queue == f"wh-{name}"
    await admin.DeleteWebhookSource(wpb.DeleteWebhookSourceRequest(name=name))
    assert await post(base, name, body, send.standard(body, "m5")) == 404


async def test_the_files_sources_are_listed_and_changed_only_there(hooks):
    base, admin, _ = hooks
    listed = {s.spec.name: s for s in (await admin.ListWebhookSources(wpb.ListWebhookSourcesRequest())).sources}
    assert {"std", "gh", "pay"} <= set(listed) and listed["std"].declared and listed["std"].secret_count == 2
    assert not listed["std"].spec.secrets
    for call in (admin.UpdateWebhookSource(wpb.UpdateWebhookSourceRequest(source=spec("std"))),
                 admin.DeleteWebhookSource(wpb.DeleteWebhookSourceRequest(name="std"))):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.aio.AioRpcError) as taken:
        await admin.CreateWebhookSource(wpb.CreateWebhookSourceRequest(source=spec("std")))
    assert taken.value.code() is grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await admin.GetWebhookSource(wpb.GetWebhookSourceRequest(name="nobody-here"))
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("fields, field", [
    ({"name": "Upper"}, "name"), ({"name": ""}, "name"), ({"scheme": "carrier-pigeon"}, "scheme"),
    ({"queue": "bad queue"}, "queue"), ({"queue": "_broker.callbacks"}, "queue"), ({"kind": ""}, "kind"),
    ({"secrets": []}, "secrets"), ({"secrets": ["whsec_***"]}, "secrets[0]"), ({"secrets": [SECRET] * 5}, "secrets"),
    ({"delivery_id": "cookie:x"}, "delivery_id"), ({"headers": ["a b"]}, "headers[0]"),
])
async def test_bad_input_is_invalid_argument_naming_the_field(hooks, fields, field):
    base, admin, _ = hooks
    name = fields.pop("name", f"bad-{uuid.uuid4().hex[:8]}")
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await admin.CreateWebhookSource(wpb.CreateWebhookSourceRequest(source=spec(name, **fields)))
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert bad.value.details().startswith(field + ":"), bad.value.details()
    listed = (await admin.ListWebhookSources(wpb.ListWebhookSourcesRequest())).sources
    assert name not in [s.spec.name for s in listed]


async def test_the_webhook_sources_commands_and_the_admin_client(hooks, monkeypatch):
    from broker_client.admin import AsyncAdminClient
    from tests.e2e.test_cli_ops import broker_cli, rows

    base, admin, target = hooks
    name = f"cli-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("SOURCE_SECRET", SECRET)
    code, out, err = await broker_cli("webhook-sources", "create", name, "standard", f"wh-{name}", "cli.event",
                                      "--secret-env", "SOURCE_SECRET", "--header", "X-Trace", target=target)
    assert code == 0, err
    assert (rows(out)[name]["SCHEME"], rows(out)[name]["SECRETS"], rows(out)[name]["FROM"]) == ("standard", "1", "admin")
    body = b'{"n": 1}'
    assert await post(base, name, body, send.standard(body, "c1")) == 201
    code, out, _ = await broker_cli("webhook-sources", "list", target=target)
    assert rows(out)["std"]["FROM"] == "file" and name in rows(out)
    code, _, err = await broker_cli("webhook-sources", "update", "std", "standard", "q", "k", target=target)
    assert code == 1 and "BROKER_WEBHOOK_SOURCES_FILE" in err
    async with AsyncAdminClient(target) as client:
        got = await client.get_webhook_source(name)
        assert (got.queue, got.kind, got.headers, got.secret_count, got.declared) == (
            f"wh-{name}", "cli.event", ("x-trace",), 1, False)
        changed = await client.update_webhook_source(name, "standard", f"wh-{name}", "other.event")
        assert changed.kind == "other.event" and changed.secret_count == 1
        assert "gh" in [s.name for s in await client.list_webhook_sources()]
        await client.delete_webhook_source(name)
    code, _, err = await broker_cli("webhook-sources", "show", name, target=target)
    assert code == 1 and "not found" in err
