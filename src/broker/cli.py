"""Command-line entry points: `broker serve`, `broker migrate`, the operators' `stats` and `dlq`
(broker.admin_cli), and the SDK's `worker`/`enqueue`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from broker import admin_cli
from broker.infra import logs, settings as settings_mod

log = logging.getLogger("broker")


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.load(server__grpc_addr=args.grpc_addr, server__http_addr=args.http_addr,
                                     database__url=args.database_url)
    except settings_mod.SettingsError as exc:
        print(f"broker: bad setting: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log.level, settings.log.format)
    return asyncio.run(_run(settings))


async def _run(settings) -> int:
    from broker import app

    broker = await app.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():
            log.warning("second signal: stopping now")
            os._exit(1)
        log.info("signal received: shutting down gracefully")
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    await stop.wait()
    await broker.stop()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from broker.infra import embedded
    from broker.infra.pg.migrate import migrate

    settings = settings_mod.load(database__url=args.database_url)
    logs.configure(settings.log.level, settings.log.format)

    async def run() -> list[str]:
        import asyncpg

        url = settings.database.url or embedded.start(settings.database.data_dir, keep_running=True).url
        conn = await asyncpg.connect(url)
        try:
            return await migrate(conn)
        finally:
            await conn.close()

    applied = asyncio.run(run())
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _sdk(argv: list[str]) -> int:
    try:
        from broker_client.cli import main as client_main
    except ImportError:
        print("broker: `worker` and `enqueue` come with the Python SDK: pip install ./clients/python",
              file=sys.stderr)
        return 2
    return client_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("worker", "enqueue"):
        return _sdk(argv)
    parser = argparse.ArgumentParser(prog="broker", description="A PostgreSQL-backed job broker.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the broker (gRPC and HTTP)")
    serve.add_argument("--grpc-addr", help="host:port for gRPC (env BROKER_GRPC_ADDR, default 127.0.0.1:50051)")
    serve.add_argument("--http-addr", help="host:port for HTTP (env BROKER_HTTP_ADDR, default 127.0.0.1:8080)")
    serve.add_argument("--database-url", help="PostgreSQL URL (env DATABASE_URL; none: embedded)")
    serve.set_defaults(func=_serve)
    mig = sub.add_parser("migrate", help="apply database migrations and exit")
    mig.add_argument("--database-url")
    mig.set_defaults(func=_migrate)
    admin_cli.add_commands(sub)
    sub.add_parser("worker", help="run a worker pool (from the Python SDK; see `broker worker --help`)")
    sub.add_parser("enqueue", help="enqueue one job (from the Python SDK)")
    args = parser.parse_args(argv)
    if args.command in ("stats", "dlq"):
        return admin_cli.run(args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
