"""`broker queues list|show|pause|resume|limit|breaker|retry`: the controls of a running broker's queues,
through the SDK's AdminClient (as the other operator commands, admin_cli.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import cli_output
from broker.admin_cli import table, target

if TYPE_CHECKING:
    from broker_client.admin import AdminClient, QueueControls

HEADERS = ("QUEUE", "PAUSED", "CONCURRENCY_LIMIT", "BREAKER", "UPDATED (UTC)")


def add_commands(sub) -> None:
    """Registers `queues` on the `broker` parser's subcommands (admin_cli.run runs them)."""
    queues = sub.add_parser("queues", help="queue controls: list, show, pause, resume, limit, breaker, retry")
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
    _breaker_command(actions)
    _retry_command(actions)


def _retry_command(actions) -> None:
    retry = actions.add_parser("retry", help="the queue's default retry policy for jobs enqueued from now on")
    target(retry)
    retry.add_argument("queue")
    retry.add_argument("--max-attempts", type=int, dest="max_attempts")
    retry.add_argument("--initial-delay", type=float, dest="initial_delay_seconds", help="seconds")
    retry.add_argument("--max-delay", type=float, dest="max_delay_seconds", help="seconds")
    retry.add_argument("--multiplier", type=float)
    retry.add_argument("--jitter", choices=("none", "full", "equal"))
    retry.add_argument("--reset", action="store_true", help="back to the broker's settings")
    retry.set_defaults(func=_retry)


def _breaker_command(actions) -> None:
    breaker = actions.add_parser("breaker", help="a circuit breaker: set its thresholds, force it open or "
                                                 "closed, set it back to auto, or remove it")
    target(breaker)
    breaker.add_argument("queue")
    breaker.add_argument("force", nargs="?", choices=("open", "closed", "auto"),
                         help="hold it open or closed, or set it back to automatic")
    breaker.add_argument("--window", type=float, dest="window_seconds", help="seconds of the sliding window")
    breaker.add_argument("--min-attempts", type=int, dest="min_attempts", help="attempts before it may open")
    breaker.add_argument("--failure-rate", type=float, dest="failure_rate", help="opens at this fraction (0-1]")
    breaker.add_argument("--cool-down", type=float, dest="cool_down_seconds", help="seconds open before half-open")
    breaker.add_argument("--probes", type=int, help="jobs leased while half-open")
    breaker.add_argument("--remove", action="store_true", help="remove the breaker")
    breaker.set_defaults(func=_breaker)


def _row(q: QueueControls) -> tuple:
    return (q.queue, "yes" if q.paused else "no", q.concurrency_limit or "-", _breaker_cell(q),
            q.updated_at.strftime("%Y-%m-%d %H:%M:%S") if q.updated_at else "-")


def _breaker_cell(q: QueueControls) -> str:
    b = q.breaker
    return "-" if b is None else b.state + (",forced" if b.forced else "")


def _breaker_lines(q: QueueControls) -> str:
    b = q.breaker
    if b is None:
        return ""
    return (f"\nbreaker of {q.queue}: {b.state}{' (forced)' if b.forced else ''}: {b.reason or 'no change yet'}"
            f"\n  opens at a failure rate >= {b.failure_rate:g} over {b.window_seconds:g}s (at least "
            f"{b.min_attempts} attempts); half-open after {b.cool_down_seconds:g}s; {b.probes} probe(s)")


def _retry_line(q: QueueControls) -> str:
    r = q.retry
    if r is None:
        return ""
    given = {k: v for k, v in vars(r).items() if v is not None}
    return "\nretry of " + q.queue + ": " + (", ".join(f"{k}={v}" for k, v in given.items()) or "the settings'")


def _print(q: QueueControls) -> int:
    print(table(HEADERS, [_row(q)], lambda i: i == 2) + _breaker_lines(q) + _retry_line(q))
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


def _breaker(client: AdminClient, args) -> int:
    settings = {k: getattr(args, k) for k in ("window_seconds", "min_attempts", "failure_rate",
                                               "cool_down_seconds", "probes")}
    return _print(client.update_breaker(args.queue, force=args.force, remove=args.remove, **settings))


def _retry(client: AdminClient, args) -> int:
    settings = {k: getattr(args, k) for k in ("max_attempts", "initial_delay_seconds", "max_delay_seconds",
                                               "multiplier")}
    return _print(client.update_retry(args.queue, jitter=args.jitter, reset=args.reset, **settings))
