"""The store's connections reuse generic plans (pool.PLANNING): every statement on the hot path
must then still reach rows through an index, with a backlog, whatever its parameters, and also
when its plan was made while the tables were empty. The operators' reads are planned for their
values, and that setting never leaks into the pool."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest

from broker.entities.job import JobState
from broker.entities.job_view import JobFilter, JobView, views_of
from broker.entities.lease import LeaseRef
from broker.entities.retry import Jitter, RetryPolicy
from broker.infra.pg import claim_many, claims, listing, queries, sql
from broker.infra.pg.pool import create_pool
from broker.infra.pg.store import PgJobStore
from broker.infra.settings import DatabaseSettings
from broker.usecases.ports import NewJob

BACKLOG = 20_000  # big enough that reading a whole table is the wrong plan
NOW = datetime(2030, 1, 1, tzinfo=timezone.utc)
POLICY = RetryPolicy(1.0, 60.0, 2.0, Jitter.FULL)


def new_job(i: int) -> NewJob:
    return NewJob(queue="plans", kind="k", payload=b"x", headers={}, idempotency_key=f"key-{i}",
                  priority=0, run_at=NOW, max_attempts=3, retry=POLICY, lease_duration=30.0)


@pytest.fixture
async def store_with_backlog(own_database):
    pool = await create_pool(own_database, DatabaseSettings(url=own_database, pool_min=1, pool_max=1))
    store = PgJobStore(pool)
    for start in range(0, BACKLOG, 1000):
        await store.enqueue([new_job(i) for i in range(start, start + 1000)], NOW)
    leased, _ = await store.claim(["plans"], "w", 200, None, NOW)
    await store.complete([LeaseRef(j.id, j.lease_token) for j in leased[:100]], NOW)
    async with pool.acquire() as conn:
        await conn.execute("ANALYZE broker_jobs; ANALYZE broker_events")
    try:
        yield store, pool
    finally:
        await pool.close()


HOT_STATEMENTS = {
    "claim": sql.CLAIM, "claim limited": claims.CLAIM_LIMITED, "lock limited": queries.LOCK_LIMITED, "extend": sql.EXTEND, "complete": sql.COMPLETE,
    "held": sql.HELD, "lock expired": sql.LOCK_EXPIRED, "fail": sql.FAIL, "expire": sql.EXPIRE,
    "enqueue": sql.ENQUEUE, "existing keys": sql.EXISTING_KEYS, "get": queries.GET, "history": queries.HISTORY,
    "get with history": queries.GET_WITH_HISTORY,
    "cancel": sql.CANCEL, "redrive ids": sql.REDRIVE_IDS, "redrive queue": sql.REDRIVE_QUEUE,
    "purge ids": queries.PURGE_IDS, "prune": queries.PRUNE,
    "claim many": claim_many.many(sql.CLAIM), "claim limited many": claim_many.many(claims.CLAIM_LIMITED),
    "release": claim_many.RELEASE,
}  # PURGE_QUEUE runs with a custom plan (its state decides the index): store.purge


def prepared_name(name: str) -> str:
    return "plan_" + name.replace(" ", "_")


async def prepare(conn, name: str, statement: str) -> None:
    await conn.execute(f"PREPARE {prepared_name(name)} AS {statement}")


async def explain(conn, name: str, statement: str) -> str:
    """The plan the prepared statement runs with. (EXPLAIN of the statement itself would plan it
    for given values; EXPLAIN EXECUTE shows the cached plan, which under force_generic_plan
    ignores the values: NULLs do.)"""
    params = max(int(n) for n in re.findall(r"\$(\d+)", statement))
    rows = await conn.fetch(f"EXPLAIN EXECUTE {prepared_name(name)}({', '.join(['NULL'] * params)})")
    return "\n".join(r[0] for r in rows)


def assert_no_table_scans(plans: dict[str, str]) -> None:
    scanning = {name: plan for name, plan in plans.items()
                if "Seq Scan on broker_jobs" in plan or "Seq Scan on broker_events" in plan}
    assert not scanning, f"{sorted(scanning)} scan a whole table:\n" + "\n\n".join(scanning.values())


async def test_hot_statements_use_generic_plans_that_reach_rows_through_indexes(store_with_backlog):
    _, pool = store_with_backlog
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        plans = {}
        for name, statement in HOT_STATEMENTS.items():
            await prepare(conn, name, statement)
            plans[name] = await explain(conn, name, statement)
    assert_no_table_scans(plans)
    assert "broker_jobs_ready" in plans["claim"] and "broker_jobs_pkey" in plans["claim"], plans["claim"]


async def test_plans_made_on_empty_tables_still_use_indexes_once_a_backlog_arrives(own_database):
    """A fresh install: the first long polls plan the statements on empty, never analyzed
    tables, and those plans stay cached until ANALYZE runs (autovacuum: up to a minute later)."""
    pool = await create_pool(own_database, DatabaseSettings(url=own_database, pool_min=1, pool_max=1))
    try:
        async with pool.acquire() as conn:
            for name, statement in HOT_STATEMENTS.items():
                await prepare(conn, name, statement)
                await explain(conn, name, statement)  # the plan is made now, on empty tables
        store = PgJobStore(pool)
        for start in range(0, BACKLOG, 1000):  # no ANALYZE: the cached plans stay
            await store.enqueue([new_job(i) for i in range(start, start + 1000)], NOW)
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT reltuples FROM pg_class WHERE relname = 'broker_jobs'") < 0
            plans = {name: await explain(conn, name, statement) for name, statement in HOT_STATEMENTS.items()}
        assert_no_table_scans(plans)
    finally:
        await pool.close()


async def test_operator_reads_are_planned_for_their_values_and_leave_the_connection_as_it_was(
        store_with_backlog):
    store, pool = store_with_backlog
    [stats] = await store.stats([], NOW)  # the pool has one connection: the same one each time
    assert (stats.ready, stats.running, stats.succeeded) == (BACKLOG - 200, 100, 100)
    assert [j.state for j in await store.list_jobs(JobFilter("plans", views=views_of(JobState.SUCCEEDED)), 5, None, NOW)] == [JobState.SUCCEEDED] * 5
    assert await store.purge([], "plans", JobState.SUCCEEDED) == 100
    async with pool.acquire() as conn:
        assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
        assert not conn.is_in_transaction()
        async with conn.transaction(readonly=True):
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + queries.STATS_WINDOWS, ["plans"], NOW))
        assert "$" not in plan  # planned with the values themselves


LISTINGS = {  # the dashboard's listings (listing.py), planned for their values as the store plans them
    "every state": JobFilter(), "every state of a queue": JobFilter("plans"),
    "ready": JobFilter(views=frozenset({JobView.READY})),
    "succeeded of a queue": JobFilter("plans", views=frozenset({JobView.SUCCEEDED})),
    "dead and cancelled": JobFilter(views=frozenset({JobView.DEAD, JobView.CANCELLED})),
    "a kind": JobFilter(kind="k", views=frozenset({JobView.RUNNING})),
    "a key": JobFilter(search="key-17"), "an id": JobFilter(search="0b5e3a52-0000-4000-8000-000000000000"),
    "a key in a queue": JobFilter("plans", search="key-17"),
}


async def test_the_listings_read_the_backlog_through_indexes_a_page_at_a_time(store_with_backlog):
    store, pool = store_with_backlog
    plans = {}
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = on")
        for name, where in LISTINGS.items():
            statement, args = listing.list_jobs(where, 51, None, NOW)
            rows = await conn.fetch("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, *args)
            plans[name] = rows[0][0]
    scanned = {name: _rows_read(json.loads(plan)[0]["Plan"]) for name, plan in plans.items()}
    assert_no_table_scans({name: plan for name, plan in plans.items() if "Seq Scan" in plan})
    # At most a page per queue and state (and a probe per queue), never the backlog.
    assert max(scanned.values()) < 1000, scanned
    assert [j.idempotency_key for j in await store.list_jobs(JobFilter(search="key-17"), 5, None, NOW)] == ["key-17"]


def _rows_read(node: dict) -> int:
    """The rows a plan's scans read (returned or filtered out), summed over its nodes, loops counted."""
    read = node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0) + node.get("Rows Removed by Index Recheck", 0)
    own = read * node.get("Actual Loops", 1) if "Scan" in node["Node Type"] else 0
    return own + sum(_rows_read(child) for child in node.get("Plans", ()))
