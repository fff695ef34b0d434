"""PostgreSQL CPU of one system under test, measured the same way for every system: the CPU
seconds (user + system, /proc/<pid>/stat) of the PostgreSQL processes serving that system's
database during a window: its client backends and any autovacuum worker on it (both appear in
pg_stat_activity with the database's name), sampled every SAMPLE_EVERY s so a backend that comes
and goes in between is counted too (up to its last sample). The bench's own connections (the
sampler's, and the ones that poll for the end of a drain) are left out. PostgreSQL's
server-wide background processes (checkpointer, WAL writer, background writer) are left out
for every system: they serve every database of the server, which other work shares."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from bench import env, procs

SAMPLE_EVERY = 0.2
_QUERY = """SELECT pid, backend_type FROM pg_stat_activity
            WHERE datname = $1 AND pid <> pg_backend_pid() AND pid <> ALL($2::int[])"""


class PgCpu:
    """`async with PgCpu(url, exclude=[conn]) as pg: ...` then `pg.used()`: CPU seconds by
    backend type ("client backend", "autovacuum worker") and "total"."""

    def __init__(self, url: str, exclude: list[asyncpg.Connection] = ()) -> None:
        self.url = url
        self.exclude = [c.get_server_pid() for c in exclude]
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.kind: dict[int, str] = {}
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None

    async def _sample(self, at_start: bool = False) -> None:
        rows = await self._conn.fetch(_QUERY, env.database_name(self.url), self.exclude)
        for pid, backend_type in rows:
            cpu = procs.cpu_seconds(pid)
            if pid not in self.first:
                # Present at the start: counts from now; appeared later: counts from zero.
                self.first[pid] = cpu if at_start else 0.0
                self.kind[pid] = backend_type
            self.last[pid] = max(cpu, self.last.get(pid, 0.0))

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(SAMPLE_EVERY)
            await self._sample()

    async def __aenter__(self) -> PgCpu:
        self._conn = await asyncpg.connect(self.url)
        await self._sample(at_start=True)
        self._task = asyncio.create_task(self._loop())
        return self

    async def stop(self) -> dict[str, float]:
        """End the window (idempotent) and return what `used` returns."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self._sample()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
        return self.used()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def used(self) -> dict[str, float]:
        return split_by_kind(self.first, self.last, self.kind)


def split_by_kind(first: dict[int, float], last: dict[int, float], kind: dict[int, str]) -> dict[str, float]:
    """CPU used per backend type and in total, from each process's first and last reading."""
    out: dict[str, float] = {"total": 0.0}
    for pid, cpu in last.items():
        used = max(0.0, cpu - first.get(pid, 0.0))
        out[kind.get(pid, "?")] = out.get(kind.get(pid, "?"), 0.0) + used
        out["total"] += used
    return out


def per_1k(used: dict[str, float], jobs: int) -> dict:
    """The details a drain or steady run records: PostgreSQL CPU per 1,000 jobs in all, and
    the autovacuum share of it (0 when none ran)."""
    jobs = max(1, jobs)
    return {"pg_cpu_per_1k": used["total"] / jobs * 1000,
            "pg_autovacuum_cpu_per_1k": used.get("autovacuum worker", 0.0) / jobs * 1000}
