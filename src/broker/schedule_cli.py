"""`broker schedules list|show|create|update|delete|pause|resume|trigger`: the schedules of a
running broker, through the SDK's AdminClient (as the other operator commands, admin_cli.py)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from broker import cli_output
from broker.admin_cli import table, target

if TYPE_CHECKING:
    from broker_client.admin import AdminClient, Schedule

HEADERS = ("NAME", "CRON", "TIME_ZONE", "QUEUE", "KIND", "MISSED", "PAUSED", "NEXT_FIRE (UTC)", "LAST_JOB")


def add_commands(sub) -> None:
    """Registers `schedules` on the `broker` parser's subcommands (admin_cli.run runs them)."""
    schedules = sub.add_parser("schedules", help="cron schedules: list, show, create, update, delete, pause, "
                                                 "resume, trigger")
    actions = schedules.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="every schedule with its next fire time and last job")
    target(listing)
    cli_output.add_output(listing)
    listing.set_defaults(func=_list)
    for name, func, text in (("show", _show, "one schedule"), ("delete", _delete, "delete a schedule"),
                             ("pause", _pause, "stop its fires"), ("resume", _resume, "fire again from now on"),
                             ("trigger", _trigger, "enqueue its job once now")):
        action = actions.add_parser(name, help=text)
        target(action)
        action.add_argument("name")
        action.set_defaults(func=func)
    for name, func in (("create", _create), ("update", _update)):
        action = actions.add_parser(name, help=f"{name} a schedule")
        target(action)
        action.add_argument("name")
        action.add_argument("--cron", required=True, help="5 fields, 6 with seconds first, or @hourly-style")
        action.add_argument("--queue", required=True)
        action.add_argument("--kind", required=True)
        action.add_argument("--time-zone", default="UTC", help="IANA zone, e.g. Europe/Berlin (default UTC)")
        action.add_argument("--payload", default="", help="the job's payload, as text")
        action.add_argument("--priority", type=int, default=0)
        action.add_argument("--max-attempts", type=int, default=0)
        action.add_argument("--missed", choices=["skip", "run_once", "catch_up"], default="skip",
                            help="what becomes of fires missed while brokers were down (default skip)")
        action.add_argument("--catch-up-limit", type=int, default=0, help="with --missed catch_up: at most N")
        if name == "create":
            action.add_argument("--paused", action="store_true")
        action.set_defaults(func=func)


def _stamp(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M:%S") if at else "-"


def _row(s: Schedule) -> tuple:
    return (s.name, s.cron, s.time_zone, s.queue, s.kind, s.missed + (f"({s.catch_up_limit})" if s.catch_up_limit else ""),
            "yes" if s.paused else "no", _stamp(s.next_fire_at), s.last_job_id or "-")


def _print(s: Schedule) -> None:
    print(table(HEADERS, [_row(s)], lambda i: False))


def _list(client: AdminClient, args) -> int:
    found = client.list_schedules()
    if cli_output.wants_json(args):
        cli_output.print_json(found)
        return 0
    print(table(HEADERS, [_row(s) for s in found], lambda i: False) if found else "no schedules")
    return 0


def _show(client: AdminClient, args) -> int:
    s = client.get_schedule(args.name)
    fields = (("name", s.name), ("cron", s.cron), ("time zone", s.time_zone), ("queue", s.queue),
              ("kind", s.kind), ("priority", s.priority), ("missed", s.missed), ("catch-up", s.catch_up_limit),
              ("paused", s.paused), ("declared", "yes (BROKER_SCHEDULES_FILE)" if s.declared else "no"),
              ("next fire", _stamp(s.next_fire_at)), ("last fire", _stamp(s.last_fire_at)),
              ("last job", s.last_job_id or "-"))
    print("\n".join(f"{k:<10} {v}" for k, v in fields))
    return 0


def _fields(args) -> dict:
    return {"time_zone": args.time_zone, "payload": args.payload, "priority": args.priority,
            "max_attempts": args.max_attempts, "missed": args.missed, "catch_up_limit": args.catch_up_limit}


def _create(client: AdminClient, args) -> int:
    _print(client.create_schedule(args.name, args.cron, args.queue, args.kind, paused=args.paused, **_fields(args)))
    return 0


def _update(client: AdminClient, args) -> int:
    _print(client.update_schedule(args.name, args.cron, args.queue, args.kind, **_fields(args)))
    return 0


def _delete(client: AdminClient, args) -> int:
    client.delete_schedule(args.name)
    print(f"deleted schedule {args.name}")
    return 0


def _pause(client: AdminClient, args) -> int:
    _print(client.pause_schedule(args.name))
    return 0


def _resume(client: AdminClient, args) -> int:
    _print(client.resume_schedule(args.name))
    return 0


def _trigger(client: AdminClient, args) -> int:
    print(f"enqueued job {client.trigger_schedule(args.name)}")
    return 0
