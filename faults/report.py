"""The table on stdout and the JSON file of a run."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time

RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

COLUMNS = ("scenario", "enqueued", "acked", "stored", "succeeded", "lost", "dup (explained)",
           "bad codes", "answers", "recovery", "lapsed leases: back in queue / acked, p50/max s", "result")


def _codes(r: dict) -> str:
    total = r["codes"]["total"]
    return ", ".join(f"{code} {n}" for code, n in sorted(total.items(), key=lambda kv: -kv[1]))


def _recovery(r: dict) -> str:
    """The slowest fault of the scenario: seconds to the first OK enqueue, to the first ack,
    and the longest time without an ack (and how long the fault lasted)."""
    faults = r["recovery"]["faults"]
    if not faults:
        return "-"
    worst = max(faults, key=lambda f: f["longest_ack_gap_s"] or 0)
    text = (f"enqueue +{_s(worst['first_ok_enqueue_s'])}, ack +{_s(worst['first_ack_s'])}, "
            f"longest ack gap {_s(worst['longest_ack_gap_s'])}")
    if "fault_lasted_s" in worst:
        text += f" (lasted {_s(worst['fault_lasted_s'])})"
    return text + (f" [worst of {len(faults)}]" if len(faults) > 1 else "")


def _s(value) -> str:
    return "-" if value is None else f"{value:.2f} s"


def row(r: dict) -> list[str]:
    if "error" in r:
        return [r["scenario"], *["-"] * (len(COLUMNS) - 2), "ERROR"]
    red = r["recovery"]["redelivery_s"]
    lapsed, acked = red["lapsed"], red["acked"]
    redelivery = f"{lapsed['n']}: {lapsed['p50']}/{lapsed['max']} / {acked['p50']}/{acked['max']}" if lapsed["n"] else "-"
    if r["recovery"]["lapsed_leases_without_fault"]:
        redelivery += f" (+{r['recovery']['lapsed_leases_without_fault']} without a fault)"
    return [r["scenario"], str(r["enqueued"]), str(r["acknowledged"]), str(r["stored"]), str(r["succeeded"]),
            str(r["lost"]), f"{r['duplicates']} ({r['duplicates_explained']})", str(r["bad_codes"]), _codes(r),
            _recovery(r), redelivery,
            "PASS" if r["passed"] else "FAIL"]


def table(results: dict) -> str:
    rows = [list(COLUMNS)] + [row(r) for r in results["scenarios"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    out = "\n".join(lines)
    for r in results["scenarios"]:
        if "error" in r:
            out += f"\n\n{r['scenario']}: {r['error']}\n{r['traceback']}"
        elif not r["passed"]:
            out += f"\n\n{r['scenario']} FAILED: drained={r['drained']}, lost {r['lost']} {r['lost_sample']}, " \
                   f"unexplained duplicates {r['unexplained_sample']}, bad codes {r['bad_codes_by_code']} " \
                   f"{r['worker_failure_sample']}, succeeded without a record {r['succeeded_without_record']}"
    verdict = "PASS" if results["passed"] else "FAIL"
    return out + f"\n\n{verdict}: profile {results['profile']['name']}, {results['duration_s']:g} s"


def git_commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def write(results: dict, path: str | None = None) -> str:
    results = {**results, "commit": git_commit(), "machine": {"platform": platform.platform(),
               "cpus": os.cpu_count()}, "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    if path is None:
        os.makedirs(RESULTS_DIR, exist_ok=True)
        path = os.path.join(RESULTS_DIR, f"{time.strftime('%Y%m%d-%H%M%S')}-{results['profile']['name']}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2, default=str)
    return path
