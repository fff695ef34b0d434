"""Command-line entry points: `broker serve`, `broker migrate`, `broker keys`, the operators'
`stats` and `dlq` (broker.admin_cli), `jobs` (broker.jobs_cli), `schedules`, `queues`, and the
SDK's `worker`/`enqueue`. Output conventions (`--version`, `-o json`, closed pipes): cli_output."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import time

from broker import (admin_cli, callback_cli, cli_output, embedded_cli, jobs_cli, queue_cli, schedule_cli,
                    webhook_source_cli)
from broker.infra import logs, settings as settings_mod

log = logging.getLogger("broker")
# A repeat of the first signal within this time is its echo, not a second signal.
SIGNAL_ECHO_SECONDS = 1.0


def _serve(args: argparse.Namespace) -> int:
    try:
        settings = settings_mod.check_serving(settings_mod.load(
            server__grpc_addr=args.grpc_addr, server__http_addr=args.http_addr, database__url=args.database_url))
    except settings_mod.SettingsError as exc:
        print(f"broker: bad setting: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log.level, settings.log.format)
    # The server forks only to run PostgreSQL's tools (the embedded server), never a child that
    # uses gRPC: without this, gRPC core's fork handlers print a line of their own into the log
    # at every fork. Read when grpc is first imported, which is below (broker.app).
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    return asyncio.run(_run(settings))


async def _run(settings) -> int:
    from broker import app

    broker = await app.start(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    first: list[float] = []

    def on_signal() -> None:
        if stop.is_set():
            # `make run` and other parents pass the terminal's Ctrl-C on to the process group,
            # so one keypress can arrive twice: only a later signal means "stop now".
            if time.monotonic() - first[0] < SIGNAL_ECHO_SECONDS:
                return
            log.warning("second signal: stopping now")
            os._exit(1)
        first.append(time.monotonic())
        log.info("signal received: shutting down gracefully")
        # Before any other task runs: health NOT_SERVING, no more leases, long polls return.
        broker.begin_shutdown()
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    await stop.wait()
    await broker.stop()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from broker import app

    settings = settings_mod.load(database__url=args.database_url)
    logs.configure(settings.log.level, settings.log.format)
    applied = asyncio.run(app.run_migrations(settings, _announce))
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _keys(args: argparse.Namespace) -> int:
    from broker import app
    from broker.entities.errors import BrokerError

    try:
        settings = settings_mod.load(database__url=args.database_url)
    except settings_mod.SettingsError as exc:
        print(f"broker: bad setting: {exc}", file=sys.stderr)
        return 2
    logs.configure("WARNING", settings.log.format)

    async def run() -> int:
        async with app.key_admin(settings, announce=_announce) as keys:
            if args.keys_command == "create":
                made = await keys.create(args.name, args.role)
                print(f"created key {made.key.id} ({made.key.role.value}) named {made.key.name!r}; "
                      "its token follows on stdout, shown this once: store it now", file=sys.stderr)
                print(made.token)
            elif args.keys_command == "list":
                rows = await keys.list()
                if cli_output.wants_json(args):
                    cli_output.print_json([{"id": k.id, "name": k.name, "role": k.role.value,
                                            "created_at": k.created_at, "revoked_at": k.revoked_at}
                                           for k in rows])
                    return 0
                print(f"{'ID':16}  {'ROLE':8}  {'CREATED (UTC)':19}  {'REVOKED (UTC)':19}  NAME")
                for k in rows:
                    revoked = _utc(k.revoked_at) if k.revoked_at else "-"
                    print(f"{k.id:16}  {k.role.value:8}  {_utc(k.created_at):19}  {revoked:19}  {k.name}")
            else:
                key = await keys.revoke(args.key_id)
                print(f"revoked key {key.id} ({key.name!r}); brokers refuse it within "
                      f"{settings.security.key_cache_ttl:g}s")
        return 0

    try:
        return asyncio.run(run())
    except BrokerError as exc:
        print(f"broker keys: {exc}", file=sys.stderr)
        return 1


def _announce(text: str) -> None:
    """Which database a one-off command uses, on stderr (stdout stays the command's output)."""
    print(f"broker: {text}", file=sys.stderr)


def _utc(stamp) -> str:
    from datetime import timezone

    return stamp.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _sdk(argv: list[str]) -> int:
    try:
        from broker_client.cli import main as client_main
    except ImportError:
        print("broker: `worker` and `enqueue` come with the Python SDK: pip install ./clients/python",
              file=sys.stderr)
        return 2
    return client_main(argv)


def build_parser() -> argparse.ArgumentParser:
    """The `broker` command line: every subcommand, each with `--version`."""
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
    _key_commands(sub)
    admin_cli.add_commands(sub)
    schedule_cli.add_commands(sub)
    queue_cli.add_commands(sub)
    jobs_cli.add_commands(sub)
    embedded_cli.add_commands(sub)
    callback_cli.add_commands(sub)
    webhook_source_cli.add_commands(sub)
    sub.add_parser("worker", help="run a worker pool (from the Python SDK; see `broker worker --help`)")
    sub.add_parser("enqueue", help="enqueue one job (from the Python SDK)")
    cli_output.add_version(parser, cli_output.version_text())
    return parser


def _key_commands(sub) -> None:
    keys = sub.add_parser("keys", help="manage API keys (with BROKER_AUTH=true every RPC needs one)")
    keys.add_argument("--database-url")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="make a key; prints its token once")
    create.add_argument("--name", required=True, help="who or what uses it, e.g. billing-workers")
    create.add_argument("--role", required=True, choices=["producer", "worker", "admin"],
                        help="producer: enqueue; worker: lease, heartbeat, ack, nack; admin: everything")
    listing = keys_sub.add_parser("list", help="every key with its role and dates (never a token)")
    cli_output.add_output(listing)
    revoke = keys_sub.add_parser("revoke", help="revoke a key for good")
    revoke.add_argument("key_id")
    keys.set_defaults(func=_keys)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("worker", "enqueue"):
        return _sdk(argv)
    args = build_parser().parse_args(argv)
    if args.command in ("stats", "dlq", "schedules", "queues", "jobs", "callbacks", "webhook-sources"):
        return cli_output.guard_pipe(lambda: admin_cli.run(args))
    return cli_output.guard_pipe(lambda: args.func(args))

if __name__ == "__main__":
    sys.exit(main())
