"""The secrets every replica shares: made by the migrations, read back the same by everyone."""

from __future__ import annotations

import asyncpg
import pytest

from broker.infra.pg.secrets import MissingSecret, read_secret
from tests.support import create_database, drop_database


async def test_the_page_token_secret_is_made_once_and_shared(db, database_url):
    other = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        secret = await read_secret(db, "page_token")
        assert len(secret) == 48 and secret == await read_secret(other, "page_token")
    finally:
        await other.close()


async def test_a_database_without_the_migrations_stops_start_up_with_a_message(database_server):
    name, url = await create_database(database_server)
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        with pytest.raises(MissingSecret, match="broker migrate"):
            await read_secret(pool, "page_token")
    finally:
        await pool.close()
        await drop_database(database_server, name)
