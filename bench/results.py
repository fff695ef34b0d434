"""What a bench run measured: figures (repeated measurements of one thing) and skips."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from bench.stats import summary


@dataclass
class Figure:
    """One measured quantity of one system in one scenario, over several runs.

    `group` names the comparison it belongs to: within a group, the broker is compared
    with the `ceiling` figure (raw SQL) and with the best `peer` figure."""

    scenario: str
    group: str
    system: str          # broker, raw-sql, pgqueuer, procrastinate, celery
    case: str            # what exactly ran, e.g. "c=100 x2 procs"
    metric: str          # e.g. "jobs/s", "p99 ms"
    values: list[float]
    higher_is_better: bool = True
    role: str = "subject"  # subject (the broker), ceiling, peer, reference
    details: list[dict] = field(default_factory=list)  # per-run extras (cpu, counts, ...)

    @property
    def median(self) -> float | None:
        return summary(self.values)["median"]

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(summary(self.values))
        return data


@dataclass
class Skip:
    scenario: str
    system: str
    reason: str


@dataclass
class Target:
    """One of the issues' targets, read from a run's figures (reported, never asserted)."""

    name: str
    wanted: str
    measured: str
    status: str  # PASS, MISS, n/a

    def to_json(self) -> dict:
        return self.__dict__


@dataclass
class Results:
    figures: list[Figure] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)

    def add(self, figure: Figure) -> Figure:
        self.figures.append(figure)
        return figure

    def skip(self, scenario: str, system: str, reason: str) -> None:
        self.skips.append(Skip(scenario, system, reason))

    def find(self, group: str, system: str | None = None, role: str | None = None,
             metric: str | None = None, case: str | None = None) -> list[Figure]:
        return [f for f in self.figures if f.group == group
                and (system is None or f.system == system) and (role is None or f.role == role)
                and (metric is None or f.metric == metric) and (case is None or f.case == case)]
