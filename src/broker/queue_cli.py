"""`broker queues list|show|pause|resume|limit|per-key|rate|breaker|retry`: the controls of a running
broker's queues, through the SDK's AdminClient (as the other operator commands, admin_cli.py). Each
row also shows the concurrency in use (the queue's RUNNING jobs, from Stats)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from broker import cli_output
from broker.admin_cli import table, target

if TYPE_CHECKING:
    from broker_client.admin import AdminClient, QueueControls

HEADERS = ("QUEUE", "PAUSED", "CONCURRENCY_LIMIT", "RUNNING", "PER_KEY", "RATE", "BURST", "BREAKER",
           "UPDATED (UTC)")
_NUMERIC = {2, 3, 4, 5, 6}


def add_commands(sub) -> None:
    """Registers `queues` on the `broker` parser's subcommands (admin_cli.run runs them)."""
    queues = sub.add_parser("queues", help="queue controls: list, show, pause, resume, limit, per-key, rate, "
                                           "breaker, retry")
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


def _row(q: QueueControls, running: dict[str, int]) -> tuple:
    return (q.queue, "yes" if q.paused else "no", q.concurrency_limit or "-", running.get(q.queue, 0),
            q.per_key_concurrency or "-", f"{q.rate_limit:g}/s" if q.rate_limit else "-", q.rate_burst or "-",
            _breaker_cell(q), q.updated_at.strftime("%Y-%m-%d %H:%M:%S") if q.updated_at else "-")


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


def _print(client: AdminClient, found: list[QueueControls], details: bool = True) -> int:
    names = [q.queue for q in found]
    report = client.stats(names if len(names) <= 100 else [])  # Stats takes 100 names per call
    running = {s.queue: s.running for s in report.queues}
    extra = "".join(_breaker_lines(q) + _retry_line(q) for q in found) if details else ""
    print(table(HEADERS, [_row(q, running) for q in found], lambda i: i in _NUMERIC) + extra)
    return 0


def _list(client: AdminClient, args) -> int:
    found = client.list_queues()
    if cli_output.wants_json(args):
        cli_output.print_json(found)
        return 0
    if not found:
        print("no queue has controls set")
        return 0
    return _print(client, found, details=False)


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


def _breaker(client: AdminClient, args) -> int:
    settings = {k: getattr(args, k) for k in ("window_seconds", "min_attempts", "failure_rate",
                                               "cool_down_seconds", "probes")}
    return _print(client, [client.update_breaker(args.queue, force=args.force, remove=args.remove, **settings)])


def _retry(client: AdminClient, args) -> int:
    settings = {k: getattr(args, k) for k in ("max_attempts", "initial_delay_seconds", "max_delay_seconds",
                                               "multiplier")}
    return _print(client, [client.update_retry(args.queue, jitter=args.jitter, reset=args.reset, **settings)])
