"""The soak's verdict: after a warm-up (the first retention period and two prune passes, when
pruning starts to balance the inserts), each series' mean over the last third of the samples
against its mean over the first third. Flat: within 10 % (plus a small absolute allowance, so
a table of a few pages is not called growing for one page)."""

from __future__ import annotations

from statistics import mean

GROWTH = 0.10
SERIES = {  # name -> (how to read it from a sample, absolute allowance)
    "jobs heap MiB": (lambda s: s["broker_jobs"]["heap"] / 2**20, 1.0),
    "jobs indexes MiB": (lambda s: s["broker_jobs"]["indexes"] / 2**20, 1.0),
    "jobs dead tuples": (lambda s: s["broker_jobs"]["pgstattuple_dead"], 2000),
    "events heap MiB": (lambda s: s["broker_events"]["heap"] / 2**20, 1.0),
    "events indexes MiB": (lambda s: s["broker_events"]["indexes"] / 2**20, 1.0),
    "events dead tuples": (lambda s: s["broker_events"]["pgstattuple_dead"], 2000),
    "broker RSS MiB": (lambda s: s["broker_rss_mb"] or 0.0, 8.0),
    "connections": (lambda s: s["connections"]["total"], 2),
}


def thirds(samples: list[dict], warm_up: float) -> tuple[list[dict], list[dict]]:
    after = [s for s in samples if s["t"] >= warm_up]
    n = len(after) // 3
    return (after[:n], after[-n:]) if n else ([], [])


def judge(samples: list[dict], warm_up: float) -> dict:
    """Per series: first and last third means, growth, flat or not; and the verdict."""
    first, last = thirds(samples, warm_up)
    if not first:
        return {"verdict": f"too short: fewer than 3 samples after the {warm_up:g} s warm-up", "series": {}}
    series, grown = {}, []
    for name, (read, allowance) in SERIES.items():
        a, b = mean(map(read, first)), mean(map(read, last))
        flat = b <= a * (1 + GROWTH) + allowance
        series[name] = {"first_third": round(a, 2), "last_third": round(b, 2),
                        "growth": round(b / a - 1, 3) if a else None,
                        "max": round(max(map(read, samples)), 2), "flat": flat}
        if not flat:
            grown.append(f"{name} {a:,.1f} -> {b:,.1f}")
    verdict = ("flat after the first retention period" if not grown
               else "not flat after the first retention period: " + "; ".join(grown))
    # Live rows are not bloat: a backlog the workers could not keep up with grows the ready index.
    a, b = mean(s["pending"] for s in first), mean(s["pending"] for s in last)
    if b > a * (1 + GROWTH) + 1000:
        verdict += f" (the pending backlog grew too, {a:,.0f} -> {b:,.0f} jobs: the workers fell behind)"
    return {"verdict": verdict, "warm_up_s": warm_up, "samples_per_third": len(first), "series": series,
            "pending": {"first_third": round(a), "last_third": round(b)}}


def table(samples: list[dict], judged: dict) -> str:
    """A short table: a few samples over the run, then each series' thirds."""
    step = max(1, len(samples) // 12)
    rows = ["| t s | jobs heap MiB | jobs idx MiB | jobs dead | events heap MiB | events idx MiB | events dead"
            " | HOT upd % | RSS MiB | conns | pending |", "|" + "---:|" * 11]
    for s in samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else []):
        j, e = s["broker_jobs"], s["broker_events"]
        hot = 100 * j["n_tup_hot_upd"] / j["n_tup_upd"] if j["n_tup_upd"] else 0.0
        rows.append(f"| {s['t']:.0f} | {j['heap'] / 2**20:.1f} | {j['indexes'] / 2**20:.1f} | {j['pgstattuple_dead']:,}"
                    f" | {e['heap'] / 2**20:.1f} | {e['indexes'] / 2**20:.1f} | {e['pgstattuple_dead']:,}"
                    f" | {hot:.0f} | {s['broker_rss_mb'] or 0:.0f} | {s['connections']['total']} | {s['pending']:,} |")
    rows += ["", "| series | first third | last third | growth | max | flat |", "|---|---:|---:|---:|---:|---|"]
    for name, v in judged["series"].items():
        growth = "-" if v["growth"] is None else f"{v['growth']:+.0%}"
        rows.append(f"| {name} | {v['first_third']:,} | {v['last_third']:,} | {growth} | {v['max']:,} | "
                    f"{'yes' if v['flat'] else 'NO'} |")
    return "\n".join(rows + ["", "verdict: " + judged["verdict"]])
