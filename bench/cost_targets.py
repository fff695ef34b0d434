"""Issue 17's cost targets, each PASS or MISS (reported, never asserted): the broker's CPU per
1,000 jobs at a steady 1,000 jobs/s, and PostgreSQL's CPU per 1,000 jobs beside PgQueuer's in
the same run, at the steady rate and in the drain. PostgreSQL's CPU is measured the same way for
every system (bench/pgcpu.py)."""

from __future__ import annotations

from bench.results import Figure, Results, Target

PEER = "pgqueuer"

def _median(results: Results, group: str, system: str | None = None, role: str | None = None) -> Figure | None:
    found = [f for f in results.find(group, system=system, role=role) if f.median is not None]
    return min(found, key=lambda f: f.median) if found else None


def fraction_of_peer(results: Results, group: str) -> tuple[float, Figure, Figure] | None:
    """The broker's figure as a fraction of PgQueuer's in one group (lower is better here)."""
    subject, peer = _median(results, group, role="subject"), _median(results, group, system=PEER)
    if subject is None or peer is None or not peer.median:
        return None
    return subject.median / peer.median, subject, peer


def vs_peer(results: Results, name: str, group: str, at_most: float) -> Target:
    """PASS when the broker's CPU is at most `at_most` times PgQueuer's."""
    wanted = f"<= {at_most:g}x PgQueuer's"
    found = fraction_of_peer(results, group)
    if found is None:
        return Target(name, wanted, "not measured", "n/a")
    r, subject, peer = found
    return Target(name, wanted, f"{r:.2f}x ({subject.median:.3f} vs {peer.median:.3f} s)",
                  "PASS" if r <= at_most else "MISS")


def cost_targets(results: Results) -> list[Target]:
    cpu = _median(results, "steady-broker_cpu_per_1k", role="subject")
    steady = (Target("steady: broker CPU per 1,000 jobs", "<= 0.10 s", "not measured", "n/a") if cpu is None else
              Target("steady: broker CPU per 1,000 jobs", "<= 0.10 s", f"{cpu.median:.3f} s",
                     "PASS" if cpu.median <= 0.10 else "MISS"))
    return [steady,
            vs_peer(results, "steady: PostgreSQL CPU per 1,000 jobs", "steady-pg_cpu_per_1k", 1.0),
            vs_peer(results, "drain: PostgreSQL CPU per 1,000 jobs", "cost-pg_cpu_per_1k", 0.67)]
