"""The printed table (each broker figure with its ratios to the raw-SQL reference and
ceiling and to the best peer) and the issue's targets, each PASS or MISS. Nothing here
asserts: the bench reports, it never fails a build."""

from __future__ import annotations

import dataclasses
import glob
import json
import os

from bench.cost_targets import cost_targets
from bench.results import Figure, Results, Target

SCENARIOS = ("enqueue", "drain", "latency", "steady", "cost", "crash", "payloads")
GROUPED = ("steady", "cost")
PREVIOUS_MARGIN = 1.10  # run-to-run noise allowed before "CPU per job rose" is called


def ratio(subject: Figure, other: Figure | None) -> float | None:
    """How the broker compares, >1 meaning better (higher throughput, lower latency or cost)."""
    if other is None or not subject.median or not other.median:
        return None
    return subject.median / other.median if subject.higher_is_better else other.median / subject.median


def best(figures: list[Figure]) -> Figure | None:
    figures = [f for f in figures if f.median is not None]
    if not figures:
        return None
    return (max if figures[0].higher_is_better else min)(figures, key=lambda f: f.median)


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


HEADER = ("scenario", "system", "case", "metric", "median", "min-max", "x raw broker SQL", "x raw tuned",
          "x raw no events", "x best peer")


def in_order(results: Results, scenario: str) -> list[Figure]:
    """A scenario's figures as measured; in GROUPED scenarios each figure of another system
    follows the broker's of the same group (its PostgreSQL CPU beside the broker's)."""
    found = [f for f in results.figures if f.scenario == scenario]
    if scenario not in GROUPED:
        return found
    first = {}
    for i, f in enumerate(found):
        first.setdefault(f.group, i)
    return sorted(found, key=lambda f: first[f.group])


def rows(results: Results) -> list[tuple[str, ...]]:
    """One row per figure (ratios for the broker's), then one per part that did not run."""
    out = []
    for scenario in SCENARIOS:
        for f in in_order(results, scenario):
            ratios = ["-"] * 4
            if f.role == "subject":
                ratios = [fmt_ratio(ratio(f, best(results.find(f.group, role=role))))
                          for role in ("reference", "tuned", "ceiling", "peer")]
            s = [v for v in (f.to_json()["min"], f.to_json()["max"]) if v is not None]
            out.append((scenario, f.system, f.case, f.metric, fmt(f.median),
                        f"{fmt(s[0])}-{fmt(s[1])}" if s else "-", *ratios))
    for skip in results.skips:
        out.append((skip.scenario, skip.system, "not run: " + skip.reason, "", "", "", "", "", "", ""))
    return out


def table(results: Results, limit: int = 60) -> str:
    found = [HEADER, *rows(results)]
    widths = [min(limit, max(len(str(r[i])) for r in found)) for i in range(len(HEADER))]
    lines = []
    for i, r in enumerate(found):
        lines.append(" | ".join(str(c)[:limit].ljust(w) for c, w in zip(r, widths)).rstrip())
        if i == 0:
            lines.append("-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(results: Results) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows(results)]
    return "\n".join(lines)


def _check(name: str, wanted: str, value: float | None, limit: float, higher: bool, shown: str | None = None) -> Target:
    if value is None:
        return Target(name, wanted, "not measured", "n/a")
    ok = value >= limit if higher else value <= limit
    return Target(name, wanted, shown or fmt(value), "PASS" if ok else "MISS")


def previous_cpu(results_dir: str, profile: str, exclude: str | None,
                 release_dir: str | None = None) -> tuple[float, str] | None:
    """The broker CPU per 1,000 jobs drained to compare with: the last release's figure
    (`<release_dir>/<profile>.json`, committed, so a fresh clone compares too), else the newest
    earlier run of the same profile in `results_dir`."""
    paths = [os.path.join(release_dir, f"{profile}.json")] if release_dir else []
    paths += sorted(glob.glob(os.path.join(results_dir, "*.json")), reverse=True)
    for path in paths:
        if exclude and os.path.abspath(path) == os.path.abspath(exclude):
            continue
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if data.get("profile") != profile:
            continue
        for fig in data.get("figures", []):
            if fig["group"] == "cost-broker_cpu_per_1k" and fig.get("median") is not None:
                label = os.path.basename(path)
                if release_dir and os.path.dirname(os.path.abspath(path)) == os.path.abspath(release_dir):
                    label = f"release {data.get('commit', '?')[:7]}"
                return fig["median"], label
    return None


def _vs_peer(results: Results, group: str, name: str, wanted: float) -> Target:
    subject = best(results.find(group, role="subject"))
    peer = best(results.find(group, role="peer"))
    r = ratio(subject, peer) if subject else None
    return _check(name, f">= {wanted:g}x", r, wanted, True,
                  r and f"{r:.2f}x ({fmt(subject.median)} vs {peer.system} {fmt(peer.median)} jobs/s)")


def targets(results: Results, previous: tuple[float, str] | None = None) -> list[Target]:
    out = []
    drain = best(results.find("drain", role="subject"))
    peer = best(results.find("drain", role="peer"))
    # The same lifecycle with the same event rows: the broker's SQL issued directly, or tuned.
    ref = best(results.find("drain", role="reference") + results.find("drain", role="tuned"))
    r = ratio(drain, peer) if drain else None
    out.append(_check("drain vs best peer", ">= 1.5x", r, 1.5, True,
                      r and f"{r:.2f}x ({fmt(drain.median)} vs {peer.system} {fmt(peer.median)} jobs/s)"))
    r = ratio(drain, ref) if drain else None
    out.append(_check("drain vs raw SQL with the same events", ">= 0.75x", r, 0.75, True,
                      r and f"{r:.2f}x ({fmt(drain.median)} vs {fmt(ref.median)} jobs/s)"))
    for group, name, wanted in (("enqueue-100x4", "batch enqueue vs best peer", 1.5),
                                ("enqueue-1x32", "1 job/call, 32 in flight vs best peer", 2.0),
                                ("enqueue-1x64", "1 job/call, 64 callers vs best peer", 2.0)):
        out.append(_vs_peer(results, group, name, wanted))
    for group, limit in (("latency-p50", 3.0), ("latency-p99", 10.0)):
        f = best(results.find(group, role="subject"))
        out.append(_check(f"pickup {group[-3:]}", f"<= {limit:g} ms", f and f.median, limit, False,
                          f and f"{f.median:.2f} ms"))
    cpu = best(results.find("cost-broker_cpu_per_1k", role="subject"))
    out.append(_check("broker CPU per 1,000 jobs drained", "<= 0.04 s", cpu and cpu.median, 0.04, False,
                      cpu and f"{cpu.median:.3f} s"))
    out += _payload_targets(results)
    out += cost_targets(results)
    worst = best(results.find("crash-max_s"))
    lost = results.find("crash-lost")
    if worst and lost:
        lease = worst.details[0]["lease_s"] if worst.details else 0
        slowest, lost_n = max(worst.values), max(lost[0].values)
        ok = slowest <= lease + 5 and lost_n == 0
        out.append(Target("crash recovery", f"all within lease+5 s ({lease + 5:g} s), none lost",
                          f"slowest {slowest:.2f} s, lost {lost_n:g}", "PASS" if ok else "MISS"))
    else:
        out.append(Target("crash recovery", "all within lease+5 s, none lost", "not measured", "n/a"))
    if cpu and previous:
        value, name = previous
        out.append(Target("broker CPU per job never rises", f"<= previous ({name}) x{PREVIOUS_MARGIN:g}",
                          f"{cpu.median:.3f} s vs {value:.3f} s",
                          "PASS" if cpu.median <= value * PREVIOUS_MARGIN else "MISS"))
    else:
        out.append(Target("broker CPU per job never rises", "<= the previous run's", "no previous run", "n/a"))
    return out


def _payload_targets(results: Results) -> list[Target]:
    """Large payloads: a streamed upload's peak memory, and enqueueing by reference vs inline."""
    rss = best(results.find("payload-upload-rss"))
    out = [_check("streamed upload: broker peak RSS over idle", "<= 64 MiB", rss and max(rss.values), 64, False,
                  rss and f"{max(rss.values):.1f} MiB ({rss.case})")]
    refs, inline = best(results.find("payload-enqueue-refs")), best(results.find("payload-enqueue-inline"))
    r = ratio(refs, inline) if refs and inline else None
    out.append(_check("enqueue by reference vs inline", ">= 0.8x", r, 0.8, True,
                      r and f"{r:.2f}x ({fmt(refs.median)} vs {fmt(inline.median)} jobs/s)"))
    return out


def targets_table(found: list[Target]) -> str:
    width = max(len(t.name) for t in found)
    wanted = max(len(t.wanted) for t in found)
    return "\n".join(f"{t.status:<4}  {t.name:<{width}}  {t.wanted:<{wanted}}  {t.measured}" for t in found)


def load(path: str) -> tuple[Results, dict]:
    """A results file back as Results (for tables of earlier runs)."""
    from bench.results import Skip

    with open(path) as f:
        data = json.load(f)
    results = Results()
    fields = {f.name for f in dataclasses.fields(Figure)}
    for fig in data["figures"]:
        results.add(Figure(**{k: v for k, v in fig.items() if k in fields}))
    for skip in data.get("skips", []):
        results.skip(**skip)
    return results, data


def main(argv=None) -> int:
    """`python -m bench.report [PATH] [--markdown]`: the table and targets of a results file
    (default: the newest)."""
    import argparse

    p = argparse.ArgumentParser(prog="python -m bench.report")
    p.add_argument("path", nargs="?")
    p.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    from bench.runner import RESULTS_DIR

    path = args.path or max(glob.glob(os.path.join(RESULTS_DIR, "*.json")), key=os.path.getmtime)
    results, data = load(path)
    print(markdown_table(results) if args.markdown else table(results))
    print()
    found = [Target(**t) for t in data.get("targets", [])] or targets(results)
    if args.markdown:
        print("| target | wanted | measured | |\n|---|---|---|---|")
        print("\n".join(f"| {t.name} | {t.wanted} | {t.measured} | {t.status} |" for t in found))
    else:
        print(targets_table(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
