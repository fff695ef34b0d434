"""python -m faults [--quick] [--only a,b] [--out PATH] [--keep-logs]"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from faults import report, runner
from faults.profiles import PROFILES
from faults.scenarios import SCENARIOS


async def interruptible(run):
    """`run`, cancelled by SIGINT or SIGTERM (its clean-up then stops everything); None then."""
    task = asyncio.ensure_future(run)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        return None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the short round (the one the test suite runs)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--out", help="where the JSON goes (default: faults/results/<time>-<profile>.json)")
    p.add_argument("--keep-logs", action="store_true", help="keep the brokers' and workers' logs and records")
    args = p.parse_args(argv)

    profile = PROFILES["quick" if args.quick else "full"]
    only = args.only.split(",") if args.only else None
    results = asyncio.run(interruptible(runner.run(profile, only, keep_logs=args.keep_logs)))
    if results is None:
        print("interrupted: every process and the private PostgreSQL were stopped", file=sys.stderr)
        return 130
    print(report.table(results))
    print(f"results: {report.write(results, args.out)}")
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
