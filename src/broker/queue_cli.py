"""`broker queues list|show|pause|resume|limit|per-key|rate`: the controls of a running broker's
queues, through the SDK's AdminClient (as the other operator commands, admin_cli.py). Each row
also shows the concurrency in use (the queue's RUNNING jobs, from Stats)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker.admin_cli import table, target

if TYPE_CHECKING:
    from broker_client.admin import AdminClient, QueueControls

HEADERS = ("QUEUE", "PAUSED", "CONCURRENCY_LIMIT", "RUNNING", "PER_KEY", "RATE", "BURST", "UPDATED (UTC)")
_NUMERIC = {2, 3, 4, 5, 6}


def add_commands(sub) -> None:
    """Registers `queues` on the `broker` parser's subcommands (admin_cli.run runs them)."""
    queues = sub.add_parser("queues", help="queue controls: list, show, pause, resume, limit, per-key, rate")
    actions = queues.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every queue whose controls were set")
    target(listing)
    listing.set_defaults(func=_list)
    for name, func, text in (("show", _show, "one queue's controls"),
                             ("pause", _pause, "Lease hands out none of its jobs (running ones finish)"),
                             ("resume", _resume, "hand its jobs out again")):
        action = actions.add_parser(name, help=text)
        target(action)
        action.add_argument("queue")
        action.set_defaults(func=func)
    for name, field, text in (("limit", "concurrency_limit", "at most N running jobs across all workers and replicas"),
                              ("per-key", "per_key_concurrency", "at most N running jobs per concurrency key")):
        limit = actions.add_parser(name, help=text)
        target(limit)
        limit.add_argument("queue")
        limit.add_argument(field, type=int, metavar="N", help="0 removes the limit")
        limit.set_defaults(func=_changer(field))
    rate = actions.add_parser("rate", help="at most R jobs leased per second, in bursts of B, across all replicas")
    target(rate)
    rate.add_argument("queue")
    rate.add_argument("rate_limit", type=float, metavar="R", help="jobs per second; 0 removes the rate limit")
    rate.add_argument("--burst", dest="rate_burst", type=int, metavar="B",
                      help="the bucket's size (default: the one it has, or a second's worth)")
    rate.set_defaults(func=_changer("rate_limit", "rate_burst"))


def _row(q: QueueControls, running: dict[str, int]) -> tuple:
    return (q.queue, "yes" if q.paused else "no", q.concurrency_limit or "-", running.get(q.queue, 0),
            q.per_key_concurrency or "-", f"{q.rate_limit:g}/s" if q.rate_limit else "-", q.rate_burst or "-",
            q.updated_at.strftime("%Y-%m-%d %H:%M:%S") if q.updated_at else "-")


def _print(client: AdminClient, found: list[QueueControls]) -> int:
    names = [q.queue for q in found]
    report = client.stats(names if len(names) <= 100 else [])  # Stats takes 100 names per call
    running = {s.queue: s.running for s in report.queues}
    print(table(HEADERS, [_row(q, running) for q in found], lambda i: i in _NUMERIC))
    return 0


def _list(client: AdminClient, args) -> int:
    found = client.list_queues()
    if not found:
        print("no queue has controls set")
        return 0
    return _print(client, found)


def _show(client: AdminClient, args) -> int:
    return _print(client, [client.get_queue(args.queue)])


def _pause(client: AdminClient, args) -> int:
    return _print(client, [client.pause_queue(args.queue)])


def _resume(client: AdminClient, args) -> int:
    return _print(client, [client.resume_queue(args.queue)])


def _changer(*fields: str):
    def change(client: AdminClient, args) -> int:
        return _print(client, [client.update_queue(args.queue, **{f: getattr(args, f) for f in fields})])
    return change
