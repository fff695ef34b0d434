"""The operator commands against a broker with keys and TLS: `broker keys create|list|revoke`,
and `broker stats` with --token and --tls-ca."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest

from tests import tls
from tests.brokers import fresh_database, running_broker


async def broker_cli(*args: str, env: dict | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli", *args, env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_keys_commands(database_url):
    async with fresh_database(database_url) as url:
        db = ("--database-url", url)
        code, token, err = await broker_cli("keys", *db, "create", "--name", "billing workers", "--role", "worker")
        assert code == 0 and token.strip().startswith("brk_") and "shown this once" in err
        key_id = token.strip().split("_")[1]
        code, listing, _ = await broker_cli("keys", *db, "list")
        assert code == 0 and key_id in listing and "worker" in listing and "billing workers" in listing
        assert token.strip() not in listing
        code, out, _ = await broker_cli("keys", *db, "revoke", key_id)
        assert code == 0 and "revoked" in out
        code, _, err = await broker_cli("keys", *db, "revoke", "0123456789abcdef")
        assert code == 1 and "no API key" in err
        code, _, err = await broker_cli("keys", *db, "create", "--name", "x", "--role", "root")
        assert code == 2


@pytest.mark.skipif(not tls.available(), reason="needs the openssl command")
async def test_stats_with_token_over_tls(database_url, tmp_path):
    pki = tls.make(tmp_path)
    async with fresh_database(database_url) as url:
        code, token, _ = await broker_cli("keys", "--database-url", url, "create", "--name", "ops", "--role", "admin")
        env = {"BROKER_AUTH": "true", "BROKER_TLS_CERT": str(pki.server_cert), "BROKER_TLS_KEY": str(pki.server_key)}
        async with running_broker(url, **env) as broker:
            target = ("--target", broker.grpc_address, "--tls-ca", str(pki.ca))
            code, _, err = await broker_cli("stats", *target)
            assert code == 1 and "UNAUTHENTICATED" in err
            code, out, err = await broker_cli("stats", *target, env={"BROKER_TOKEN": token.strip()})
            assert code == 0, err
            code, _, err = await broker_cli("dlq", "list", *target, "--token", token.strip())
            assert code == 0, err
