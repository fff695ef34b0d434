"""Session fixtures: one fresh PostgreSQL database per test run (dropped afterwards), one
in-process broker on loopback whose clock tests can move, and gRPC stubs for it."""

from __future__ import annotations

import contextlib
import random
import uuid

import asyncpg
import grpc
import pytest

from broker import app
from broker.infra import settings as settings_mod
from broker.infra.pg.migrate import migrate
from broker.v1 import admin_service_pb2_grpc, job_service_pb2_grpc
from tests.fakes import ShiftedClock
from tests.support import admin_url, create_database, drop_database, spawn_broker  # noqa: F401


@pytest.fixture(scope="session")
async def database_server():
    """The admin URL of the PostgreSQL the run uses (started here when embedded)."""
    admin, embedded_server = await admin_url()
    yield admin
    if embedded_server is not None:
        embedded_server.stop()


@contextlib.asynccontextmanager
async def migrated_database(admin: str):
    name, url = await create_database(admin)
    conn = await asyncpg.connect(url)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    try:
        yield url
    finally:
        await drop_database(admin, name)


@pytest.fixture(scope="session")
async def database_url(database_server):
    async with migrated_database(database_server) as url:
        yield url


@pytest.fixture
async def own_database(database_server):
    """A fresh migrated database for this test alone: for brokers on the real clock, away from the
    session broker whose clock the tests move (its reaper would expire their leases)."""
    async with migrated_database(database_server) as url:
        yield url


@pytest.fixture(scope="session")
async def db(database_url):
    """A pool on the test database, for assertions on what the broker wrote."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
def clock():
    return ShiftedClock()


def broker_settings(database_url: str, **env) -> settings_mod.Settings:
    """Settings for an in-process test broker: free ports, fast loops, no migrations."""
    return settings_mod.load({"DATABASE_URL": database_url, "BROKER_GRPC_ADDR": "127.0.0.1:0",
                              "BROKER_HTTP_ADDR": "127.0.0.1:0", "BROKER_REAPER_INTERVAL": "0.1",
                              "BROKER_HEALTH_INTERVAL": "0.2", "BROKER_SHUTDOWN_GRACE": "2",
                              "BROKER_MIGRATE": "false",
                              # Tests run the scheduler's pass themselves (broker.scheduler.run_once).
                              "BROKER_SCHEDULER_INTERVAL": "3600", **env})


test_settings = broker_settings  # the older name
broker_settings.__test__ = False  # a helper, not a test, wherever it is imported


@pytest.fixture(scope="session")
async def broker_server(database_url, clock):
    broker = await app.start(broker_settings(database_url), clock=clock, rng=random.Random(7))
    broker.address = broker.grpc_address
    yield broker
    await broker.stop(grace=1)


@pytest.fixture(scope="session")
async def channel(broker_server):
    async with grpc.aio.insecure_channel(broker_server.grpc_address) as ch:
        yield ch


@pytest.fixture(scope="session")
def jobs(channel):
    return job_service_pb2_grpc.JobServiceStub(channel)


@pytest.fixture(scope="session")
def admin(channel):
    return admin_service_pb2_grpc.AdminServiceStub(channel)


@pytest.fixture
def queue():
    """A queue name of this test's own."""
    return f"q-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def s3_server():
    """A real S3-compatible server on loopback (moto in server mode), for the run."""
    from tests import s3

    server = s3.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_bucket(s3_server) -> str:
    return s3_server.new_bucket()


@pytest.fixture(scope="session")
async def storage_database(database_server):
    """A database of its own for the storage broker: its loops (reaper, pruner) never take the
    session broker's work, whose metrics and logs other tests read."""
    async with migrated_database(database_server) as url:
        yield url


@pytest.fixture(scope="session")
def storage_clock():
    return ShiftedClock()


@pytest.fixture(scope="session")
async def storage_broker(storage_database, storage_clock, s3_server, s3_bucket):
    """A broker with object storage on, on a database and clock of its own (a small offload
    threshold so tests offload without megabytes)."""
    env = s3_server.env(s3_bucket, BROKER_OFFLOAD_THRESHOLD="1024", BROKER_S3_PART_SIZE=str(5 * 1024 * 1024))
    broker = await app.start(broker_settings(storage_database, **env), clock=storage_clock, rng=random.Random(7))
    yield broker
    await broker.stop(grace=1)


@pytest.fixture(scope="session")
async def storage_db(storage_database):
    """A pool on the storage broker's database."""
    pool = await asyncpg.create_pool(storage_database, min_size=1, max_size=2)
    yield pool
    await pool.close()


@pytest.fixture(scope="session")
async def storage_channel(storage_broker):
    async with grpc.aio.insecure_channel(storage_broker.grpc_address) as ch:
        yield ch


@pytest.fixture(scope="session")
def storage_jobs(storage_channel):
    return job_service_pb2_grpc.JobServiceStub(storage_channel)


@pytest.fixture(scope="session")
def storage_admin(storage_channel):
    return admin_service_pb2_grpc.AdminServiceStub(storage_channel)
