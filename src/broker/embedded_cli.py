"""`broker embedded status|stop|reset`: the embedded PostgreSQL that `broker serve` starts when
DATABASE_URL is unset, in BROKER_DATA_DIR (one directory per user by default)."""

from __future__ import annotations

import argparse
import sys

from broker import cli_output
from broker.infra import embedded, settings as settings_mod


def add_commands(sub) -> None:
    """Registers `embedded` on the `broker` parser's subcommands."""
    group = sub.add_parser("embedded", help="the embedded PostgreSQL (used without DATABASE_URL): "
                                           "status, stop, reset")
    actions = group.add_subparsers(dest="action", required=True)
    state = actions.add_parser("status", help="where its files are and whether it runs")
    cli_output.add_output(state)
    actions.add_parser("stop", help="stop a server left running (a broker using it loses its database)")
    reset = actions.add_parser("reset", help="delete its files: every job, key and schedule in it")
    reset.add_argument("--yes", action="store_true", help="confirm the deletion")
    group.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        data_dir = settings_mod.load().database.data_dir
    except settings_mod.SettingsError as exc:
        print(f"broker: bad setting: {exc}", file=sys.stderr)
        return 2
    try:
        return {"status": _status, "stop": _stop, "reset": _reset}[args.action](data_dir, args)
    except embedded.EmbeddedInUse as exc:
        print(f"broker embedded: {exc}", file=sys.stderr)
        return 1


def _status(data_dir: str, args) -> int:
    found = embedded.status(data_dir)
    if cli_output.wants_json(args):
        cli_output.print_json({"data_dir": str(found.data_dir), "initialised": found.initialised,
                               "running": found.pid is not None, "pid": found.pid})
        return 0
    state = (f"running (pid {found.pid})" if found.pid else "stopped") if found.initialised else "not created yet"
    print(f"data directory  {found.data_dir}  (BROKER_DATA_DIR)\nserver          {state}")
    return 0


def _stop(data_dir: str, args) -> int:
    pid = embedded.stop(data_dir)
    print(f"stopped the embedded PostgreSQL (pid {pid})" if pid else "no embedded PostgreSQL is running")
    return 0


def _reset(data_dir: str, args) -> int:
    if not args.yes:
        print(f"broker: resetting deletes every job, key and schedule of the embedded PostgreSQL in "
              f"{embedded.status(data_dir).data_dir}: add --yes", file=sys.stderr)
        return 2
    path = embedded.reset(data_dir)
    print(f"reset: the embedded PostgreSQL in {path} starts empty next time")
    return 0
