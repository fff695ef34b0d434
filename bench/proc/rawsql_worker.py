"""A raw-SQL worker process: the broker's claim/complete lifecycle straight from asyncpg.

Each of --loops connections claims --claim jobs (FOR UPDATE SKIP LOCKED; --variant: the
broker's statements, or tuned ones with or without the event rows), completes them in one statement, and repeats until a claim comes back empty.
Prints `ready`, waits for `go`, and prints `done <first claim> <last completion>` (monotonic),
then holds its connections until stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import datetime, timezone

import asyncpg

from bench.baselines.rawsql_sql import session_settings, statements


async def loop(conn: asyncpg.Connection, claim_sql: str, complete_sql: str, limit: int, name: str,
               marks: list) -> None:
    queues = ["bench"]
    while True:
        started = time.monotonic()
        rows = await conn.fetch(claim_sql, queues, datetime.now(timezone.utc), limit, name, None)
        if not rows:
            return
        marks.append(started)
        args = [[r[0] for r in rows], [r[16] for r in rows], datetime.now(timezone.utc)]
        if "$4" in complete_sql:  # the broker's COMPLETE also takes the jobs' results (none here)
            args.append([None] * len(rows))
        await conn.fetch(complete_sql, *args)
        marks.append(time.monotonic())


async def run(args: argparse.Namespace) -> None:
    _, claim_sql, complete_sql = statements(args.variant)
    conns = [await asyncpg.connect(args.dsn, server_settings=session_settings(args.variant))
             for _ in range(args.loops)]
    for conn in conns:  # prepare before the clock starts, as a long-running worker would have
        await conn.prepare(claim_sql)
        await conn.prepare(complete_sql)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    marks: list[float] = []
    await asyncio.gather(*(loop(c, claim_sql, complete_sql, args.claim, f"raw-{i}", marks)
                           for i, c in enumerate(conns)))
    print(f"done {min(marks) if marks else 0:.6f} {max(marks) if marks else 0:.6f}", flush=True)
    # Keep the connections until stopped, so their backends' CPU can still be read after `done`.
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for conn in conns:
        await conn.close()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dsn", required=True)
    p.add_argument("--claim", type=int, default=100)
    p.add_argument("--loops", type=int, default=2)
    p.add_argument("--variant", default="broker")
    asyncio.run(run(p.parse_args()))
