"""One run of the fault scenarios: a private PostgreSQL, the scenarios one after another, and
everything they started taken down at the end (also on Ctrl-C or a failure)."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass

from faults.postgres import PrivatePostgres
from faults.procs import Children
from faults.profiles import Profile
from faults.scenarios import SCENARIOS, start_postgres


@dataclass
class Run:
    profile: Profile
    pg: PrivatePostgres
    children: Children
    log_dir: str


async def run(profile: Profile, only: list[str] | None = None, keep_logs: bool = False) -> dict:
    """Run the scenarios (all, or `only`); returns the results (see faults/README.md)."""
    names = only or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise ValueError(f"unknown scenarios {unknown}; known: {list(SCENARIOS)}")
    log_dir = tempfile.mkdtemp(prefix="broker-faults-")
    pg, children = PrivatePostgres(), Children()
    started = time.monotonic()
    results: list[dict] = []
    try:
        await asyncio.to_thread(pg.init)
        await start_postgres(pg)
        context = Run(profile, pg, children, log_dir)
        for name in names:
            try:
                results.append(await SCENARIOS[name](context))
            except Exception as exc:  # one scenario failing still reports the others
                results.append({"scenario": name, "passed": False, "error": f"{exc!r}",
                                "traceback": traceback.format_exc()})
            finally:
                children.kill_all()  # nothing of one scenario survives into the next
                if not pg.running():
                    await start_postgres(pg)
    finally:
        children.kill_all()
        pg.destroy()
        if not keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)
    return {"profile": asdict(profile), "scenarios": results, "passed": all(r["passed"] for r in results),
            "duration_s": round(time.monotonic() - started, 1), "logs": log_dir if keep_logs else None,
            "loadavg": os.getloadavg()}
