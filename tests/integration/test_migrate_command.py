"""`broker migrate` and `broker keys` through the composition root (broker.app), on a database
nobody has migrated yet."""

from __future__ import annotations

import asyncio

from broker import cli
from tests.support import create_database, drop_database


async def in_a_thread(capsys, *argv: str) -> tuple[int, str]:
    code = await asyncio.to_thread(cli.main, list(argv))  # the commands run their own event loop
    return code, capsys.readouterr().out


async def test_migrate_applies_what_is_missing_then_finds_the_database_up_to_date(database_server, capsys):
    name, url = await create_database(database_server)
    try:
        code, out = await in_a_thread(capsys, "migrate", "--database-url", url)
        assert code == 0 and out.startswith("applied: 0001")
        code, out = await in_a_thread(capsys, "migrate", "--database-url", url)
        assert (code, out) == (0, "database is up to date\n")
        code, out = await in_a_thread(capsys, "keys", "--database-url", url, "list")
        assert code == 0 and out.split() == ["ID", "ROLE", "CREATED", "(UTC)", "REVOKED", "(UTC)", "NAME"]
    finally:
        await drop_database(database_server, name)
