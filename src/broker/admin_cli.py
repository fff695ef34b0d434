"""Operator commands that talk to a running broker over gRPC, like any client:
`broker stats [--watch]` and `broker dlq list|show|redrive|purge`. Tables go to stdout.

They call the SDK's AdminClient (clients/python), which owns channels, credentials, deadlines
and retries. The SDK is imported when a command runs, not here: the server installs and serves
without it (as for `broker worker`), and `make install` installs both."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from broker import cli_output

if TYPE_CHECKING:
    from broker_client.admin import AdminClient, JobState, StatsReport

DEFAULT_TARGET = "127.0.0.1:50051"
TIMEOUT = 10.0


def add_commands(sub) -> None:
    """Registers `stats` and `dlq` on the `broker` parser's subcommands."""
    stats = sub.add_parser("stats", help="per-queue counts, ages and rates (the Stats RPC)")
    target(stats)
    stats.add_argument("--queue", action="append", default=[], help="only this queue (repeatable)")
    stats.add_argument("--watch", nargs="?", type=float, const=2.0, metavar="SECONDS",
                       help="refresh every SECONDS (default 2) until interrupted")
    cli_output.add_output(stats)
    stats.set_defaults(func=_stats)

    dlq = sub.add_parser("dlq", help="the dead letter queue: list, show, redrive, purge")
    actions = dlq.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="dead jobs, newest first")
    target(listing)
    listing.add_argument("--queue")
    listing.add_argument("--limit", type=int, default=50)
    cli_output.add_output(listing)
    listing.set_defaults(func=_dlq_list)
    show = actions.add_parser("show", help="one job: fields, every attempt's error, its event timeline")
    target(show)
    show.add_argument("job_id")
    cli_output.add_output(show)
    show.set_defaults(func=show_job)
    for name, func, text in (("redrive", _dlq_redrive, "dead jobs back to pending"),
                             ("purge", _dlq_purge, "delete dead jobs and their history")):
        action = actions.add_parser(name, help=text + " (by ids, or --queue for all of a queue)")
        target(action)
        action.add_argument("job_ids", nargs="*")
        action.add_argument("--queue")
        if name == "redrive":
            action.add_argument("--keep-attempts", action="store_true",
                                help="keep the attempt count instead of granting fresh attempts")
        else:
            action.add_argument("--yes", action="store_true", help="confirm purging a whole queue")
        action.set_defaults(func=func)


def target(parser: argparse.ArgumentParser) -> None:
    """The connection flags every operator command takes."""
    env = os.environ.get
    parser.add_argument("--target", default=env("BROKER_TARGET") or DEFAULT_TARGET,
                        help=f"the broker's gRPC address (env BROKER_TARGET, default {DEFAULT_TARGET})")
    parser.add_argument("--token", default=env("BROKER_TOKEN"),
                        help="an admin API key, for a broker with BROKER_AUTH on (env BROKER_TOKEN)")
    # The same flags as the SDK's brokerctl, read by the same function (connection_options).
    parser.add_argument("--tls", action="store_true", help="use TLS with the system roots")
    parser.add_argument("--tls-ca", metavar="PEM", help="root certificates (implies --tls)")
    parser.add_argument("--tls-cert", metavar="PEM", help="client certificate chain for mutual TLS")
    parser.add_argument("--tls-key", metavar="PEM", help="client private key for mutual TLS")
    parser.set_defaults(timeout=TIMEOUT)  # each call's deadline (brokerctl's --timeout)


def run(args: argparse.Namespace) -> int:
    """Runs the chosen command; a failed call becomes one line on stderr and exit status 1."""
    try:
        from broker_client.admin import AdminClient
        from broker_client.cli import connection_options
        from broker_client.errors import BrokerClientError
    except ImportError:
        print("broker: `stats`, `dlq`, `jobs`, `schedules`, `queues`, `callbacks` and `webhook-sources` come with the Python SDK: pip install ./clients/python", file=sys.stderr)
        return 2
    try:
        options = connection_options(args)
    except (OSError, ValueError) as exc:
        print(f"broker: {exc}", file=sys.stderr)
        return 2
    with AdminClient(options=options) as client:
        try:
            return args.func(client, args)
        except BrokerClientError as exc:
            print(f"broker: {exc}", file=sys.stderr)
            return 1
        except ValueError as exc:  # a flag the command checks itself (callbacks --secret-env)
            print(f"broker: {exc}", file=sys.stderr)
            return 2
        except (KeyboardInterrupt, Stopped):
            return 0


class Stopped(Exception):
    """SIGINT or SIGTERM reached a command that runs until stopped (`stats --watch`)."""


def _stop_on_signals() -> None:
    """SIGINT and SIGTERM raise `Stopped`. Not left to KeyboardInterrupt: a process started with
    SIGINT ignored (any background job of a non-interactive shell) never gets one."""
    def stop(signum, frame):
        raise Stopped(signal.Signals(signum).name)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, stop)


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], numeric: Callable[[int], bool]) -> str:
    """Aligned columns; numeric ones to the right."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if numeric(i) else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


STATS_HEADERS = ("QUEUE", "READY", "SCHEDULED", "RETRYING", "RUNNING", "SUCCEEDED", "DEAD", "CANCELLED",
                 "OLDEST_READY", "1M_OK", "1M_FAILED", "1H_FAILURE", "BREAKER")


def stats_table(report: StatsReport) -> str:
    rows = [(q.queue, q.ready, q.scheduled, q.retrying, q.running, q.succeeded, q.dead, q.cancelled,
             _age(q.oldest_ready_age) if q.ready else "-",
             q.last_minute.succeeded, q.last_minute.failed, f"{q.last_hour.failure_rate:.1%}", q.breaker or "-")
            for q in report.queues]
    return table(STATS_HEADERS, rows, lambda i: 0 < i < len(STATS_HEADERS) - 1)


def _stats(client: AdminClient, args) -> int:
    if args.watch:
        _stop_on_signals()
    while True:
        report = client.stats(args.queue)
        if cli_output.wants_json(args):  # with --watch: one document per refresh
            cli_output.print_json(report)
        else:
            _print_stats(report, args.watch)
        sys.stdout.flush()
        if not args.watch:
            return 0
        time.sleep(args.watch)


def _print_stats(report: StatsReport, watch: float | None) -> None:
    if watch and sys.stdout.isatty():
        sys.stdout.write("\x1b[H\x1b[2J")
    if watch:
        print(f"{datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC, every {watch:g}s (Ctrl-C stops)")
    print(stats_table(report) if report.queues else "no jobs")


def _dlq_list(client: AdminClient, args) -> int:
    page = client.list_jobs(args.queue, "dead", page_size=args.limit)
    if cli_output.wants_json(args):
        cli_output.print_json({"jobs": page.jobs, "more": bool(page.next_page_token)})
        return 0
    rows = [(j.id, j.queue, j.kind, f"{j.attempt}/{j.max_attempts}", stamp(j.finished_at),
             short(j.last_error)) for j in page.jobs]
    print(table(("JOB_ID", "QUEUE", "KIND", "ATTEMPTS", "DIED", "LAST_ERROR"), rows, lambda i: i == 3)
          if rows else "no dead jobs")
    if page.next_page_token:
        print(f"(more than {args.limit}; raise --limit)")
    return 0


def show_job(client: AdminClient, args) -> int:
    """`dlq show` and `jobs show`: one job, its errors and its timeline (`-o json`: as JSON)."""
    history = client.get_job(args.job_id)
    if cli_output.wants_json(args):
        cli_output.print_json(history)
        return 0
    job = history.job
    fields = (("id", job.id), ("queue", job.queue), ("kind", job.kind), ("state", job.state.value),
              ("attempts", f"{job.attempt}/{job.max_attempts}"), ("priority", job.priority),
              ("created", stamp(job.created_at)), ("finished", stamp(job.finished_at)),
              ("worker", job.worker_id), ("payload", f"{len(job.payload)} bytes"))
    print("\n".join(f"{name:<10} {value}" for name, value in fields))
    print("\nerrors:" if job.errors else "\nerrors: none")
    for err in job.errors:
        print(f"  attempt {err.attempt} at {stamp(err.at)}: {err.error}")
    print("\ntimeline:")
    rows = [(stamp(e.at), f"{_state(e.from_state)} -> {_state(e.to_state)}", e.reason, e.attempt,
             e.worker_id, short(e.error)) for e in history.events]
    print(table(("AT", "CHANGE", "REASON", "ATTEMPT", "WORKER", "ERROR"), rows, lambda i: i == 3))
    return 0


def _dlq_redrive(client: AdminClient, args) -> int:
    if not _onetarget(args):
        return 2
    result = client.redrive_jobs(args.job_ids, queue=args.queue, reset_attempts=not args.keep_attempts)
    print(f"redriven: {result.redriven}")
    for job_id in result.job_ids:
        print(job_id)
    return 0


def _dlq_purge(client: AdminClient, args) -> int:
    if not _onetarget(args):
        return 2
    if args.queue and not args.yes:
        print(f"broker: purging every dead job of {args.queue!r} needs --yes", file=sys.stderr)
        return 2
    print(f"purged: {client.purge_jobs(args.job_ids, queue=args.queue)}")
    return 0


def _onetarget(args) -> bool:
    if bool(args.job_ids) == bool(args.queue):
        print("broker: give job ids or --queue, not both or neither", file=sys.stderr)
        return False
    return True


def _state(state: JobState | None) -> str:
    return state.value if state else "-"


def stamp(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def short(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _age(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
