"""What the soak samples every few seconds: each table's heap and index sizes (all partitions
summed), dead tuples twice (pgstattuple's exact count, and the statistics collector's
n_dead_tup), the update counters that say whether updates were HOT, autovacuum runs, the
broker's resident memory and the database's connections."""

from __future__ import annotations

import time

TABLES = ("broker_jobs", "broker_events")

# A table's leaves: its partitions, or (pg_partition_tree gives nothing for a plain table) itself.
_LEAVES = """(SELECT relid FROM pg_partition_tree($1::regclass) WHERE isleaf
    UNION SELECT oid FROM pg_class WHERE oid = $1::regclass AND relkind = 'r')"""

_SIZES = f"""
SELECT coalesce(sum(pg_relation_size(relid)), 0)::bigint AS heap,
       coalesce(sum(pg_indexes_size(relid)), 0)::bigint AS indexes,
       count(*) AS leaves
FROM {_LEAVES} leaves
"""

_TUPLES = f"""
SELECT coalesce(sum(s.tuple_count), 0)::bigint AS live, coalesce(sum(s.dead_tuple_count), 0)::bigint AS dead,
       coalesce(sum(s.free_space), 0)::bigint AS free
FROM {_LEAVES} t, LATERAL pgstattuple(t.relid) s
"""

_STATS = f"""
SELECT coalesce(sum(n_dead_tup), 0)::bigint AS n_dead_tup, coalesce(sum(n_live_tup), 0)::bigint AS n_live_tup,
       coalesce(sum(n_tup_ins), 0)::bigint AS n_tup_ins, coalesce(sum(n_tup_upd), 0)::bigint AS n_tup_upd,
       coalesce(sum(n_tup_hot_upd), 0)::bigint AS n_tup_hot_upd, coalesce(sum(n_tup_del), 0)::bigint AS n_tup_del,
       coalesce(sum(autovacuum_count), 0)::bigint AS autovacuums
FROM pg_stat_user_tables WHERE relid IN {_LEAVES}
"""

_INDEXES = f"""
SELECT coalesce(i.relname, s.indexrelname) AS name, sum(pg_relation_size(s.indexrelid))::bigint AS bytes
FROM pg_stat_user_indexes s
LEFT JOIN pg_inherits h ON h.inhrelid = s.indexrelid LEFT JOIN pg_class i ON i.oid = h.inhparent
WHERE s.relid IN {_LEAVES}
GROUP BY 1 ORDER BY 1
"""

_CONNECTIONS = """
SELECT count(*) AS total, count(*) FILTER (WHERE state = 'active') AS active,
       count(*) FILTER (WHERE state = 'idle') AS idle
FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
"""


def rss_mb(pid: int) -> float | None:
    """The process's resident memory now (VmRSS), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


async def prepare(conn) -> None:
    """pgstattuple, in the bench's own database only (it is dropped afterwards)."""
    await conn.execute("CREATE EXTENSION IF NOT EXISTS pgstattuple")


async def table(conn, name: str) -> dict:
    sizes = await conn.fetchrow(_SIZES, name)
    tuples = await conn.fetchrow(_TUPLES, name)
    stats = await conn.fetchrow(_STATS, name)
    indexes = {r["name"]: r["bytes"] for r in await conn.fetch(_INDEXES, name)}
    return {**dict(sizes), **{f"pgstattuple_{k}": v for k, v in tuples.items()}, **dict(stats),
            "index_bytes": indexes}


async def sample(conn, t0: float, broker_pid: int) -> dict:
    """One sample: seconds since the start, each table, the broker, the connections."""
    found = {"t": round(time.monotonic() - t0, 1), "broker_rss_mb": rss_mb(broker_pid),
             "pending": await conn.fetchval("SELECT count(*) FROM broker_jobs WHERE state = 'pending'"),
             "connections": dict(await conn.fetchrow(_CONNECTIONS))}
    for name in TABLES:
        found[name] = await table(conn, name)
    return found
