"""What every `broker` command shares about its output: `--version`, `-o json` on listings, and
a quiet exit when the reader of stdout goes away (`broker jobs list | head`)."""

from __future__ import annotations

import argparse
import base64
import dataclasses
import enum
import json
import os
import platform
import sys
from collections.abc import Callable
from datetime import datetime

import broker

# Exit status after stdout's reader left: what a process killed by SIGPIPE reports in a shell.
EXIT_BROKEN_PIPE = 141


def version_text(prog: str = "broker") -> str:
    """`broker 0.2.0 (Python 3.12.3)`: the one version source is broker.__version__."""
    return f"{prog} {broker.__version__} (Python {platform.python_version()})"


def add_version(parser: argparse.ArgumentParser, text: str) -> None:
    """`--version` on the parser and on every subcommand under it, so it works anywhere."""
    parser.add_argument("--version", action="version", version=text, help="print the version and exit")
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in set(action.choices.values()):
                add_version(sub, text)


def add_output(parser: argparse.ArgumentParser) -> None:
    """`-o/--output table|json` on a command that lists or shows things."""
    parser.add_argument("-o", "--output", choices=["table", "json"], default="table",
                        help="table (default) or json: one JSON document on stdout")


def wants_json(args: argparse.Namespace) -> bool:
    return getattr(args, "output", "table") == "json"


def print_json(value: object) -> None:
    """Records as JSON: datetimes in ISO 8601 (UTC), enums by value, bytes in base64 (as
    protobuf's JSON mapping does), dataclasses as objects."""
    print(json.dumps(plain(value), indent=2, sort_keys=False))


def plain(value: object) -> object:
    """`value` made of JSON types only."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return value


def guard_pipe(run: Callable[[], int]) -> int:
    """`run()`, but a reader that closed stdout early (`| head`) ends the command quietly with
    EXIT_BROKEN_PIPE instead of a traceback, now or when the interpreter flushes at exit."""
    try:
        code = run()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        # Python would flush stdout again at exit and fail once more: point it at /dev/null.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
