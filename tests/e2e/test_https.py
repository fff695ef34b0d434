"""The HTTP port under TLS: HTTPS with the gRPC port's certificates (client certificates too
under mutual TLS), so the dashboard API's admin key never travels in clear; and the start-up
refusal of an authenticated HTTP API on a plaintext non-loopback address."""

from __future__ import annotations

import ssl

import aiohttp
import pytest

from broker.infra import settings as settings_mod
from tests import tls
from tests.brokers import fresh_database, key_admin, running_broker

pytestmark = pytest.mark.skipif(not tls.available(), reason="needs the openssl command")


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return tls.make(tmp_path_factory.mktemp("pki"))


def client_context(pki, with_cert: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))
    if with_cert:
        context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return context


async def get(url: str, context=None, token: str | None = None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(url, ssl=context if context is not None else False, headers=headers,
                               timeout=aiohttp.ClientTimeout(total=5)) as response:
            return response.status, await response.text()


async def test_with_tls_the_http_port_is_https_and_the_api_key_travels_encrypted(database_url, pki):
    env = {"BROKER_TLS_CERT": str(pki.server_cert), "BROKER_TLS_KEY": str(pki.server_key), "BROKER_AUTH": "true"}
    async with fresh_database(database_url) as url:
        async with key_admin(url) as admin:
            token = (await admin.create("dashboard", "admin")).token
        async with running_broker(url, **env) as broker:
            base = f"127.0.0.1:{broker.http_port}"
            assert (await get(f"https://{base}/healthz", client_context(pki)))[0] == 200
            status, body = await get(f"https://{base}/api/queues", client_context(pki), token)
            assert status == 200 and '"queues"' in body
            assert (await get(f"https://{base}/api/queues", client_context(pki)))[0] == 401
            with pytest.raises(aiohttp.ClientError):  # plain HTTP is not served
                await get(f"http://{base}/healthz")
            stranger = ssl.create_default_context(cafile=str(pki.other_ca))
            with pytest.raises(aiohttp.ClientConnectorError):  # a client that does not trust the cert
                await get(f"https://{base}/healthz", stranger)


async def test_with_mutual_tls_the_http_port_wants_a_client_certificate_too(database_url, pki):
    env = {"BROKER_TLS_CERT": str(pki.server_cert), "BROKER_TLS_KEY": str(pki.server_key),
           "BROKER_TLS_CLIENT_CA": str(pki.ca)}
    async with fresh_database(database_url) as url, running_broker(url, **env) as broker:
        base = f"https://127.0.0.1:{broker.http_port}"
        assert (await get(f"{base}/metrics", client_context(pki, with_cert=True)))[0] == 200
        with pytest.raises(aiohttp.ClientError):
            await get(f"{base}/metrics", client_context(pki))


@pytest.mark.parametrize("addr", ["0.0.0.0:8080", ":8080", "10.1.2.3:8080", "broker.internal:8080", "[::]:8080"])
def test_an_authenticated_api_on_plaintext_non_loopback_http_stops_start_up(addr):
    env = {"BROKER_AUTH": "true", "BROKER_HTTP_ADDR": addr}
    with pytest.raises(settings_mod.SettingsError, match="BROKER_HTTP_ALLOW_PLAINTEXT") as refused:
        serving(env)
    assert "BROKER_HTTP_ADDR" in str(refused.value) and "BROKER_TLS_CERT" in str(refused.value)
    with pytest.raises(settings_mod.SettingsError, match="BROKER_HTTP_ALLOW_PLAINTEXT"):  # the --http-addr flag too
        settings_mod.check_serving(settings_mod.load({"BROKER_AUTH": "true"}, server__http_addr=addr))
    assert serving({**env, "BROKER_HTTP_ALLOW_PLAINTEXT": "true"}).security.http_allow_plaintext
    assert serving({**env, "BROKER_DASHBOARD": "false"})  # no API: nothing to protect
    assert serving({"BROKER_HTTP_ADDR": addr})  # without auth there is no key to leak
    assert settings_mod.load(env)  # the operator commands (broker keys, migrate) serve nothing


def serving(env: dict) -> settings_mod.Settings:
    return settings_mod.check_serving(settings_mod.load(env))


async def test_broker_serve_refuses_with_a_clear_message(database_url):
    import asyncio
    import os
    import sys

    env = {**os.environ, "DATABASE_URL": database_url, "BROKER_AUTH": "true"}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli", "serve", "--http-addr", "0.0.0.0:0", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:  # it started serving: the check is missing
            process.kill()
            await process.wait()
    assert process.returncode == 2
    assert err.decode().startswith("broker: bad setting: BROKER_HTTP_ADDR='0.0.0.0:0'")


async def test_an_in_process_start_refuses_too(database_url):
    from broker import app
    from tests.conftest import broker_settings

    with pytest.raises(settings_mod.SettingsError, match="BROKER_HTTP_ALLOW_PLAINTEXT"):
        await app.start(broker_settings(database_url, BROKER_AUTH="true", BROKER_HTTP_ADDR="0.0.0.0:0"))


@pytest.mark.parametrize("addr", ["127.0.0.1:8080", "localhost:8080", "[::1]:8080", "127.0.0.2:0"])
def test_loopback_or_tls_is_fine(addr, pki):
    assert serving({"BROKER_AUTH": "true", "BROKER_HTTP_ADDR": addr})
    assert serving({"BROKER_AUTH": "true", "BROKER_HTTP_ADDR": "0.0.0.0:8080",
                    "BROKER_TLS_CERT": str(pki.server_cert), "BROKER_TLS_KEY": str(pki.server_key)})
    with pytest.raises(settings_mod.SettingsError, match="BROKER_HTTP_ALLOW_PLAINTEXT"):
        settings_mod.load({"BROKER_AUTH": "true", "BROKER_HTTP_ADDR": "0.0.0.0:8080",
                           "BROKER_HTTP_ALLOW_PLAINTEXT": "maybe"})
