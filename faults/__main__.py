"""python -m faults [--quick] [--only a,b] [--out PATH] [--keep-logs]"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from faults import report, runner
from faults.profiles import PROFILES
from faults.scenarios import SCENARIOS


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    p.add_argument("--quick", action="store_true", help="the short round (the one the test suite runs)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    p.add_argument("--out", help="where the JSON goes (default: faults/results/<time>-<profile>.json)")
    p.add_argument("--keep-logs", action="store_true", help="keep the brokers' and workers' logs and records")
    args = p.parse_args(argv)

    def terminate(signum, frame):  # SIGTERM cleans up like Ctrl-C
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, terminate)
    profile = PROFILES["quick" if args.quick else "full"]
    only = args.only.split(",") if args.only else None
    try:
        results = asyncio.run(runner.run(profile, only, keep_logs=args.keep_logs))
    except KeyboardInterrupt:
        print("interrupted: every process and the private PostgreSQL were stopped", file=sys.stderr)
        return 130
    print(report.table(results))
    print(f"results: {report.write(results, args.out)}")
    return 0 if results["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
