"""The store vacuums broker_jobs itself once its dead row versions pass 1,000 + 5 % of the live
rows (infra/pg/retention.py), whatever the server's autovacuum does, and leaves it alone below."""

from __future__ import annotations

from datetime import datetime, timezone

import asyncpg
import pytest

from broker.infra.pg.store import PgJobStore
from tests.conftest import migrated_database
from tests.contract.helpers import leased, ref

T0 = datetime(2031, 3, 1, tzinfo=timezone.utc)


@pytest.fixture
async def pool(database_server):
    async with migrated_database(database_server) as url:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=1)  # one session: its stats flushed below
        yield pool
        await pool.close()


async def vacuums(pool) -> int:
    await pool.fetchval("SELECT pg_stat_force_next_flush()")
    return await pool.fetchval("SELECT vacuum_count FROM pg_stat_user_tables WHERE relname = 'broker_jobs'")


async def test_compact_vacuums_the_jobs_table_only_past_its_dead_rows_threshold(pool):
    store = PgJobStore(pool)
    jobs = await leased(store, "q", T0, 200)  # 200 dead versions: below 1,000
    await vacuums(pool)
    assert await store.compact() == []
    assert await vacuums(pool) == 0

    for _ in range(5):
        more = await leased(store, "q", T0, 300)
        await store.complete([ref(j) for j in more], T0)
    await store.complete([ref(j) for j in jobs], T0)
    await vacuums(pool)
    assert await store.compact() == ["broker_jobs"]
    assert await vacuums(pool) == 1
    assert await pool.fetchval("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'broker_jobs'") == 0
