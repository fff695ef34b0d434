"""`broker callbacks list|show|create|update|delete`: the outbound callback subscriptions of a
running broker, through the SDK's AdminClient (as the other operator commands, admin_cli.py).
Secrets are read from environment variables (`--secret-env`), never from the command line,
where other users of the machine could read them."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from broker.admin_cli import table, target

if TYPE_CHECKING:
    from broker_client.admin import AdminClient, Subscription

HEADERS = ("NAME", "URL", "EVENTS", "QUEUE", "KIND", "ATTEMPTS", "SECRETS", "UPDATED (UTC)")
EVENTS = ("job.succeeded", "job.failed", "job.dead", "job.cancelled")


def add_commands(sub) -> None:
    """Registers `callbacks` on the `broker` parser's subcommands (admin_cli.run runs them)."""
    callbacks = sub.add_parser("callbacks", help="outbound callback subscriptions: list, show, create, update, delete")
    actions = callbacks.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every subscription")
    target(listing)
    listing.set_defaults(func=_list)
    for name, func, text in (("show", _show, "one subscription"), ("delete", _delete, "delete a subscription")):
        action = actions.add_parser(name, help=text)
        target(action)
        action.add_argument("name")
        action.set_defaults(func=func)
    for name, func, text in (("create", _create, "post events of jobs to a URL, signed per Standard Webhooks"),
                             ("update", _update, "replace a subscription (no --secret-env: keep its secrets)")):
        action = actions.add_parser(name, help=text)
        target(action)
        _spec_flags(action)
        action.set_defaults(func=func)


def _spec_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name")
    parser.add_argument("url")
    parser.add_argument("--event", action="append", required=True, metavar="EVENT",
                        help=f"repeatable: {', '.join(EVENTS)}")
    parser.add_argument("--secret-env", action="append", default=[], metavar="VAR",
                        help="an environment variable holding a whsec_ secret (repeat for the new and the old one)")
    parser.add_argument("--queue", help="only jobs of this queue")
    parser.add_argument("--kind", help="only jobs of this kind")
    parser.add_argument("--max-attempts", type=int, default=0, help="per delivery (default: the broker's)")


def secrets_from_env(args) -> list[str]:
    """The values of the `--secret-env` variables; ValueError naming one that is not set."""
    missing = [v for v in args.secret_env if not os.environ.get(v)]
    if missing:
        raise ValueError(f"--secret-env {missing[0]}: the variable is not set")
    return [os.environ[v] for v in args.secret_env]


def _row(s: Subscription) -> tuple:
    return (s.name, s.url, ",".join(s.events), s.queue or "*", s.kind or "*", s.max_attempts, s.secret_count,
            s.updated_at.strftime("%Y-%m-%d %H:%M:%S") if s.updated_at else "-")


def _print(s: Subscription) -> int:
    print(table(HEADERS, [_row(s)], lambda i: i in (5, 6)))
    return 0


def _list(client: AdminClient, args) -> int:
    found = client.list_subscriptions()
    print(table(HEADERS, [_row(s) for s in found], lambda i: i in (5, 6)) if found else "no subscriptions")
    return 0


def _show(client: AdminClient, args) -> int:
    return _print(client.get_subscription(args.name))


def _delete(client: AdminClient, args) -> int:
    client.delete_subscription(args.name)
    print(f"deleted {args.name}")
    return 0


def _create(client: AdminClient, args) -> int:
    return _print(client.create_subscription(args.name, args.url, args.event, secrets=secrets_from_env(args),
                                             queue=args.queue, kind=args.kind, max_attempts=args.max_attempts))


def _update(client: AdminClient, args) -> int:
    return _print(client.update_subscription(args.name, args.url, args.event, secrets=secrets_from_env(args),
                                             queue=args.queue, kind=args.kind, max_attempts=args.max_attempts))
