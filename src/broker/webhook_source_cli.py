"""`broker webhook-sources list|show|create|update|delete`: the inbound webhook sources of a
running broker (those of its sources file are listed, and changed in the file), through the
SDK's AdminClient. Secrets come from environment variables (`--secret-env`), never argv."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from broker.admin_cli import table, target
from broker.callback_cli import secrets_from_env

if TYPE_CHECKING:
    from broker_client.admin import AdminClient, WebhookSource

HEADERS = ("NAME", "SCHEME", "QUEUE", "KIND", "DELIVERY_ID", "SECRETS", "FROM")


def add_commands(sub) -> None:
    """Registers `webhook-sources` on the `broker` parser's subcommands (admin_cli.run runs them)."""
    sources = sub.add_parser("webhook-sources", help="inbound webhook sources: list, show, create, update, delete")
    actions = sources.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every source, the sources file's too")
    target(listing)
    listing.set_defaults(func=_list)
    for name, func, text in (("show", _show, "one source"), ("delete", _delete, "its URL is 404 from now on")):
        action = actions.add_parser(name, help=text)
        target(action)
        action.add_argument("name")
        action.set_defaults(func=func)
    for name, func, text in (("create", _create, "a source whose verified deliveries become jobs"),
                             ("update", _update, "replace a source (no --secret-env: keep its secrets)")):
        action = actions.add_parser(name, help=text)
        target(action)
        _spec_flags(action)
        action.set_defaults(func=func)


def _spec_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="POST /webhooks/<name>")
    parser.add_argument("scheme", choices=("standard", "github", "stripe"))
    parser.add_argument("queue")
    parser.add_argument("kind")
    parser.add_argument("--secret-env", action="append", default=[], metavar="VAR",
                        help="an environment variable holding a secret (repeat for the new and the old one)")
    parser.add_argument("--delivery-id", help="header:<name> or json:<field> (default: the scheme's)")
    parser.add_argument("--header", action="append", default=[], help="another request header to keep on the job")


def _row(s: WebhookSource) -> tuple:
    return (s.name, s.scheme, s.queue, s.kind, s.delivery_id, s.secret_count, "file" if s.declared else "admin")


def _print(s: WebhookSource) -> int:
    print(table(HEADERS, [_row(s)], lambda i: i == 5))
    return 0


def _list(client: AdminClient, args) -> int:
    found = client.list_webhook_sources()
    print(table(HEADERS, [_row(s) for s in found], lambda i: i == 5) if found else "no webhook sources")
    return 0


def _show(client: AdminClient, args) -> int:
    return _print(client.get_webhook_source(args.name))


def _delete(client: AdminClient, args) -> int:
    client.delete_webhook_source(args.name)
    print(f"deleted {args.name}")
    return 0


def _create(client: AdminClient, args) -> int:
    return _print(client.create_webhook_source(args.name, args.scheme, args.queue, args.kind,
                                               secrets=secrets_from_env(args), delivery_id=args.delivery_id,
                                               headers=args.header))


def _update(client: AdminClient, args) -> int:
    return _print(client.update_webhook_source(args.name, args.scheme, args.queue, args.kind,
                                               secrets=secrets_from_env(args), delivery_id=args.delivery_id,
                                               headers=args.header))
