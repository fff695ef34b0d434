"""The asyncpg pool, sized and bounded by settings."""

from __future__ import annotations

import asyncpg

from broker.infra.settings import DatabaseSettings


# Every statement the store runs is prepared once per connection (asyncpg's statement cache), but
# by default PostgreSQL plans it again on every execution while it judges a custom plan cheaper:
# for the claim that was ~0.3 ms of planning per Lease call, more than the work itself for small
# batches. So connections use generic plans. A generic plan is made once and kept until ANALYZE
# (autovacuum's included) updates the statistics: made while the tables were empty (a fresh
# install, the first long polls), it would read whole tables until then, which with a sudden
# backlog is a minute of slow claims. Every statement on the hot path has an index that fits, so
# sequential scans are off: their plans reach rows through indexes whatever the statistics said
# (tests/e2e/test_plans.py checks both). The operators' reads and bulk changes (stats, listings,
# purge), whose best plan depends on the values, run with PostgreSQL's defaults
# (PgJobStore._planned).
PLANNING = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off"}


async def create_pool(url: str, settings: DatabaseSettings, size: int | None = None) -> asyncpg.Pool:
    """`size` fixes the pool at that many connections (the operator commands need one)."""
    server_settings = {"application_name": "broker", **PLANNING}
    if settings.statement_timeout:
        server_settings["statement_timeout"] = str(int(settings.statement_timeout * 1000))
    return await asyncpg.create_pool(
        url, min_size=size or min(settings.pool_min, settings.pool_max), max_size=size or settings.pool_max,
        server_settings=server_settings, timeout=settings.acquire_timeout,
        # Recycle connections that sat idle a long time, and re-establish after outages.
        max_inactive_connection_lifetime=300.0,
        reset=_reset,
    )


async def _reset(conn: asyncpg.Connection) -> None:
    """Pooled connections never change their state on the server (LISTEN has a connection of its
    own), so the default reset (advisory unlocks, CLOSE ALL, UNLISTEN, RESET ALL: a round trip on
    every release) is skipped; only a transaction left open is rolled back."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")
