"""`broker jobs list|show|cancel|retry`: any job of a running broker, over the AdminService
RPCs it already has (ListJobs, GetJob, CancelJob, RedriveJobs), through the SDK's AdminClient
(as the other operator commands, admin_cli.py). `broker dlq` is the same for dead jobs only."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from broker import cli_output
from broker.admin_cli import show_job, stamp, short, table, target

if TYPE_CHECKING:
    from broker_client.admin import AdminClient

STATES = ("pending", "running", "succeeded", "dead", "cancelled")
HEADERS = ("JOB_ID", "QUEUE", "KIND", "STATE", "ATTEMPTS", "CREATED (UTC)", "LAST_ERROR")


def add_commands(sub) -> None:
    """Registers `jobs` on the `broker` parser's subcommands (admin_cli.run runs them)."""
    jobs = sub.add_parser("jobs", help="jobs in any state: list, show, cancel, retry")
    actions = jobs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="jobs, newest first, by queue and state")
    target(listing)
    cli_output.add_output(listing)
    listing.add_argument("--queue", help="only this queue")
    listing.add_argument("--state", choices=STATES, help="only jobs in this state")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (1 to 1000; default 50)")
    listing.set_defaults(func=_list)
    show = actions.add_parser("show", help="one job: fields, every attempt's error, its event timeline")
    target(show)
    cli_output.add_output(show)
    show.add_argument("job_id")
    show.set_defaults(func=show_job)
    cancel = actions.add_parser("cancel", help="PENDING or RUNNING jobs -> CANCELLED")
    target(cancel)
    cancel.add_argument("job_ids", nargs="+")
    cancel.set_defaults(func=_cancel)
    retry = actions.add_parser("retry", help="DEAD jobs back to PENDING, ready now (a redrive)")
    target(retry)
    retry.add_argument("job_ids", nargs="+")
    retry.add_argument("--keep-attempts", action="store_true",
                       help="keep the attempt count instead of granting fresh attempts")
    retry.set_defaults(func=_retry)


def _list(client: AdminClient, args) -> int:
    page = client.list_jobs(args.queue, args.state, page_size=args.limit)
    if cli_output.wants_json(args):
        cli_output.print_json({"jobs": page.jobs, "more": bool(page.next_page_token)})
        return 0
    rows = [(j.id, j.queue, j.kind, j.state.value, f"{j.attempt}/{j.max_attempts}", stamp(j.created_at),
             short(j.last_error) or "-") for j in page.jobs]
    print(table(HEADERS, rows, lambda i: i == 4) if rows else "no jobs")
    if page.next_page_token:
        print(f"(more than {args.limit}; raise --limit or narrow --queue/--state)")
    return 0


def _cancel(client: AdminClient, args) -> int:
    """Each id in turn; one that cannot be cancelled is reported and the rest still go."""
    from broker_client.errors import BrokerClientError

    failed = 0
    for job_id in args.job_ids:
        try:
            job = client.cancel_job(job_id)
            print(f"{job.id} {job.state.value}")
        except BrokerClientError as exc:
            failed += 1
            print(f"broker: {job_id}: {exc}", file=sys.stderr)
    return 1 if failed else 0


def _retry(client: AdminClient, args) -> int:
    result = client.redrive_jobs(args.job_ids, reset_attempts=not args.keep_attempts)
    print(f"retried: {result.redriven} of {len(args.job_ids)} (only DEAD jobs go back to pending)")
    for job_id in result.job_ids:
        print(job_id)
    return 0 if result.redriven == len(set(args.job_ids)) else 1
