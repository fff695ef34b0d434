"""The Node.js SDK (clients/node): its own suite (`node --test`) against real brokers on loopback,
one plain and one with mutual TLS and API keys, started here; `make test` builds it first."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests import tls
from tests.brokers import fresh_database, key_admin, running_broker
from tests.node import NODE_DIR, node_or_skip, test_files


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    if not tls.available():
        pytest.skip("openssl is not installed")
    return tls.make(tmp_path_factory.mktemp("node-pki"))


async def test_the_node_sdk_suite_against_real_brokers(database_url, pki, s3_server):
    node = node_or_skip()
    secured = {"BROKER_TLS_CERT": str(pki.server_cert), "BROKER_TLS_KEY": str(pki.server_key),
               "BROKER_TLS_CLIENT_CA": str(pki.ca), "BROKER_AUTH": "true"}
    async with fresh_database(database_url) as plain_url, fresh_database(database_url) as secure_url:
        async with key_admin(secure_url) as admin:
            producer = (await admin.create("node-producer", "producer")).token
            worker = (await admin.create("node-worker", "worker")).token
        # The plain broker has object storage (large payloads offloaded past 256 KiB, the default),
        # with the smallest parts S3 allows, so test/uploads.test.ts puts a file in three parts.
        storage = s3_server.env(s3_server.new_bucket(), BROKER_S3_PART_SIZE=str(5 * 1024 * 1024))
        async with running_broker(plain_url, **storage) as plain, running_broker(secure_url, **secured) as secure:
            env = {**os.environ, "BROKER_ADDR": plain.grpc_address, "BROKER_SECURE_ADDR": secure.grpc_address,
                   "BROKER_CA": str(pki.ca), "BROKER_CLIENT_CERT": str(pki.client_cert),
                   "BROKER_CLIENT_KEY": str(pki.client_key), "BROKER_PRODUCER_TOKEN": producer,
                   "BROKER_WORKER_TOKEN": worker}
            process = await asyncio.create_subprocess_exec(
                node, "--test", "--test-reporter=spec", *test_files(), cwd=NODE_DIR, env=env,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            try:
                output, _ = await asyncio.wait_for(process.communicate(), 180)
            except TimeoutError:
                process.kill()
                raise
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-6000:]
    assert "# fail 0" in text or "ℹ fail 0" in text, text[-3000:]
    assert "skipped 0" in text, "a Node test was skipped:\n" + text[-3000:]
