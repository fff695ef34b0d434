"""The accounts of one scenario: what the producer was told, what the database holds, what the
workers ran, and whether every extra run is explained by a lease that lapsed."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import asyncpg

ALLOWED = {"OK", "UNAVAILABLE", "RESOURCE_EXHAUSTED"}


@dataclass
class Records:
    """What the worker processes wrote (see faults/worker.py)."""

    executions: dict[str, list[tuple[int, str, float]]] = field(default_factory=lambda: defaultdict(list))
    codes: Counter = field(default_factory=Counter)        # (call, code) -> answers
    outcomes: Counter = field(default_factory=Counter)     # (call, outcome) -> leases
    failures: list[tuple[float, str, str, str]] = field(default_factory=list)

    def read(self, path: str) -> None:
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except FileNotFoundError:
            return
        for line in lines:
            parts = line.split(" ", 5)
            if parts[0] == "X" and len(parts) == 6:
                _, uid, job_id, attempt, _pid, at = parts
                self.executions[uid].append((int(attempt), job_id, float(at)))
            elif parts[0] == "C" and len(parts) >= 4:
                self.codes[(parts[1], parts[2])] += int(parts[3])
            elif parts[0] == "O" and len(parts) >= 4:
                self.outcomes[(parts[1], parts[2])] += int(parts[3])
            elif parts[0] == "E" and len(parts) >= 4:
                self.codes[(parts[1], parts[2])] += 1
                self.failures.append((float(parts[3]), parts[1], parts[2], parts[4] if len(parts) > 4 else ""))


def seconds(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "max": None}
    return {"n": len(values), "p50": round(statistics.median(values), 3), "max": round(max(values), 3)}


async def account(database_url: str, queue: str, producer, records: Records, faults: list[dict],
                  until: float) -> dict:
    """Every count of the issue's list, from the database, the producer and the records."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch("SELECT id::text, idempotency_key AS uid, state FROM broker_jobs WHERE queue = $1",
                                queue)
        events = await conn.fetch("""
            SELECT job_id::text, reason, attempt, worker_id, extract(epoch FROM at)::float8 AS at
            FROM broker_events WHERE queue = $1 AND reason IN ('lease', 'expire', 'nack', 'ack')
            ORDER BY id""", queue)
    finally:
        await conn.close()
    return tally([dict(r) for r in rows], [dict(e) for e in events], producer, records, faults, until)


def tally(rows: list[dict], events: list[dict], producer, records: Records, faults: list[dict],
          until: float) -> dict:
    """The accounts from the job rows (id, uid, state) and their lease/expire/nack/ack events
    (job_id, reason, attempt, worker_id, at; in order)."""
    stored = {r["uid"]: r for r in rows}
    by_job: dict[str, list] = defaultdict(list)
    for e in events:
        by_job[e["job_id"]].append(e)
    acknowledged = producer.acknowledged
    lost = sorted(uid for uid in acknowledged if uid not in stored or stored[uid]["state"] != "succeeded")
    wrong_id = sorted(uid for uid, job_id in acknowledged.items() if uid in stored and stored[uid]["id"] != job_id)
    succeeded = [uid for uid, r in stored.items() if r["state"] == "succeeded"]
    unrecorded = [uid for uid in succeeded if uid not in records.executions]

    duplicates = explained = 0
    unexplained: list[dict] = []
    for uid, runs in records.executions.items():
        if len(runs) < 2:
            continue
        duplicates += len(runs) - 1
        job_events = by_job.get(stored[uid]["id"], []) if uid in stored else []
        lapsed = {e["attempt"] for e in job_events if e["reason"] in ("expire", "nack")}
        attempts = sorted(a for a, _, _ in runs)
        # Each run but the last must belong to an attempt whose lease lapsed (or was given back),
        # and no attempt may have run twice (that would be two runs under one lease).
        if len(set(attempts)) == len(attempts) and all(a in lapsed for a in attempts[:-1]):
            explained += len(runs) - 1
        else:
            unexplained.append({"uid": uid, "attempts": attempts, "lapsed": sorted(lapsed),
                                "events": [(e["reason"], e["attempt"], e["worker_id"]) for e in job_events]})

    worker_codes = Counter()
    for (call, code), n in records.codes.items():
        worker_codes[code] += n
    codes = Counter(producer.codes) + worker_codes
    bad = {code: n for code, n in codes.items() if code not in ALLOWED}
    return {
        "enqueued": producer.enqueued,
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "stored_unacknowledged": sum(1 for uid in stored if uid not in acknowledged),
        "succeeded": len(succeeded),
        "lost": len(lost), "lost_sample": lost[:10],
        "acknowledged_with_wrong_id": len(wrong_id),
        "gave_up_calls": producer.gave_up,
        "executions": sum(len(r) for r in records.executions.values()),
        "duplicates": duplicates, "duplicates_explained": explained,
        "duplicates_unexplained": duplicates - explained, "unexplained_sample": unexplained[:5],
        "succeeded_without_record": len(unrecorded),
        "states": dict(Counter(r["state"] for r in rows)),
        "codes": {"producer": dict(producer.codes), "producer_first_answers": dict(producer.first_answers),
                  "workers": {f"{call} {code}": n for (call, code), n in sorted(records.codes.items())},
                  "total": dict(codes)},
        "bad_codes": sum(bad.values()), "bad_codes_by_code": bad,
        "lease_outcomes": {f"{call} {outcome}": n for (call, outcome), n in sorted(records.outcomes.items())},
        "worker_failure_sample": [f"{call} {code} {details}" for _, call, code, details in records.failures
                                  if code not in ALLOWED][:10],
        "worker_calls_counted": sum(records.codes.values()),
        "recovery": recovery(producer, by_job, faults, until),
    }


def recovery(producer, by_job: dict[str, list], faults: list[dict], until: float) -> dict:
    """Per fault, seconds from its start to the first OK enqueue (of a call started after it)
    and to the first job acked after it, both after its end for an outage of the whole service
    (PostgreSQL down); the longest time without any ack from the fault to the end of the drain;
    and per lapsed lease, seconds from the fault behind it to the job's ack (redelivery)."""
    acks = sorted(e["at"] for events in by_job.values() for e in events if e["reason"] == "ack")
    per_fault = []
    for f in faults:
        back = f["ended_at"] if f.get("outage") else f["at"]
        ok = [end for start, end, code in producer.answers if start >= f["at"] and end >= back and code == "OK"]
        later = [t for t in acks if t >= f["at"]]
        points = [f["at"]] + [t for t in later if t <= until] + [max(until, f["at"])]
        gaps = [b - a for a, b in zip(points, points[1:])]
        item = {"fault": f["what"],
                "first_ok_enqueue_s": _round(min(ok) - f["at"] if ok else None),
                "first_ack_s": _round(next((t - f["at"] for t in later if t >= back), None)),
                "longest_ack_gap_s": _round(max(gaps) if gaps else None)}
        if f.get("ended_at"):
            item["fault_lasted_s"] = round(f["ended_at"] - f["at"], 3)
        per_fault.append(item)
    lapsed, leased_again, acked, unmatched = [], [], [], 0
    for events in by_job.values():
        ack_at = next((e["at"] for e in reversed(events) if e["reason"] == "ack"), None)
        for i, e in enumerate(events):
            if e["reason"] != "expire":
                continue
            holder = next((p["worker_id"] for p in reversed(events[:i]) if p["reason"] == "lease"), None)
            fault = _fault_behind(faults, holder, e["at"])
            if fault is None or ack_at is None:
                unmatched += 1
                break
            lapsed.append(e["at"] - fault["at"])
            again = next((p["at"] for p in events[i:] if p["reason"] == "lease"), None)
            if again is not None:
                leased_again.append(again - fault["at"])
            acked.append(ack_at - fault["at"])
            break  # the first lapse of a job: its redelivery runs to the final ack
    return {"faults": per_fault, "lapsed_leases": sum(1 for ev in by_job.values() for e in ev if e["reason"] == "expire"),
            "lapsed_leases_without_fault": unmatched,
            # seconds from the fault to: the lease found lapsed (the job back in the queue), the job
            # leased again, the job acked
            "redelivery_s": {"lapsed": seconds(lapsed), "leased_again": seconds(leased_again),
                             "acked": seconds(acked)}}


def _fault_behind(faults: list[dict], holder: str | None, at: float) -> dict | None:
    """The fault that made a lease lapse: the kill of the worker that held it, else the last
    fault before the lapse."""
    for f in faults:
        if f.get("worker_id") and f["worker_id"] == holder:
            return f
    before = [f for f in faults if f["at"] <= at and not f.get("worker_id")]
    return before[-1] if before else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
