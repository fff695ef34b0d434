"""`broker queues list|show|pause|resume|limit`: the controls of a running broker's queues,
through the SDK's AdminClient (as the other operator commands, admin_cli.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import cli_output
from broker.admin_cli import table, target

if TYPE_CHECKING:
    from broker_client.admin import AdminClient, QueueControls

HEADERS = ("QUEUE", "PAUSED", "CONCURRENCY_LIMIT", "UPDATED (UTC)")


def add_commands(sub) -> None:
    """Registers `queues` on the `broker` parser's subcommands (admin_cli.run runs them)."""
    queues = sub.add_parser("queues", help="queue controls: list, show, pause, resume, limit")
    actions = queues.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every queue whose controls were set")
    target(listing)
    cli_output.add_output(listing)
    listing.set_defaults(func=_list)
    for name, func, text in (("show", _show, "one queue's controls"),
                             ("pause", _pause, "Lease hands out none of its jobs (running ones finish)"),
                             ("resume", _resume, "hand its jobs out again")):
        action = actions.add_parser(name, help=text)
        target(action)
        action.add_argument("queue")
        action.set_defaults(func=func)
    limit = actions.add_parser("limit", help="at most N running jobs across all workers and replicas")
    target(limit)
    limit.add_argument("queue")
    limit.add_argument("concurrency_limit", type=int, metavar="N", help="0 removes the limit")
    limit.set_defaults(func=_limit)


def _row(q: QueueControls) -> tuple:
    return (q.queue, "yes" if q.paused else "no", q.concurrency_limit or "-",
            q.updated_at.strftime("%Y-%m-%d %H:%M:%S") if q.updated_at else "-")


def _print(q: QueueControls) -> int:
    print(table(HEADERS, [_row(q)], lambda i: i == 2))
    return 0


def _list(client: AdminClient, args) -> int:
    found = client.list_queues()
    if cli_output.wants_json(args):
        cli_output.print_json(found)
        return 0
    print(table(HEADERS, [_row(q) for q in found], lambda i: i == 2) if found else "no queue has controls set")
    return 0


def _show(client: AdminClient, args) -> int:
    return _print(client.get_queue(args.queue))


def _pause(client: AdminClient, args) -> int:
    return _print(client.pause_queue(args.queue))


def _resume(client: AdminClient, args) -> int:
    return _print(client.resume_queue(args.queue))


def _limit(client: AdminClient, args) -> int:
    return _print(client.update_queue(args.queue, concurrency_limit=args.concurrency_limit))
