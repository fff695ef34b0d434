"""Breakers as rows of broker_queue_breakers, and their event rows: the columns, the statements
that read and write one breaker, and the conversions. Shared by breakers.py (the BreakerStore)
and breaker_claims.py (the claim's probes)."""

from __future__ import annotations

from broker.entities.breaker import Breaker, BreakerEvent, BreakerSettings, BreakerState
from broker.entities.breaker_window import Window

COLUMNS = """queue, window_seconds, min_attempts, failure_rate, cool_down_seconds, probes, state, forced,
    reason, changed_at, half_open_at, window_started_at, window_attempts, window_failures, prev_attempts,
    prev_failures, probes_leased, probe_successes"""

GET = f"SELECT {COLUMNS} FROM broker_queue_breakers WHERE queue = $1"
LIST = f"SELECT {COLUMNS} FROM broker_queue_breakers ORDER BY queue"
NAMES = "SELECT queue FROM broker_queue_breakers"
LOCK = f"SELECT {COLUMNS} FROM broker_queue_breakers WHERE queue = ANY($1::text[]) ORDER BY queue FOR UPDATE"
LOCK_DUE = f"""SELECT {COLUMNS} FROM broker_queue_breakers
WHERE state = 'open' AND half_open_at <= $1 ORDER BY half_open_at LIMIT $2 FOR UPDATE SKIP LOCKED"""
PUT = f"""INSERT INTO broker_queue_breakers ({COLUMNS})
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (queue) DO UPDATE SET (window_seconds, min_attempts, failure_rate, cool_down_seconds, probes,
    state, forced, reason, changed_at, half_open_at, window_started_at, window_attempts, window_failures,
    prev_attempts, prev_failures, probes_leased, probe_successes) =
    (EXCLUDED.window_seconds, EXCLUDED.min_attempts, EXCLUDED.failure_rate, EXCLUDED.cool_down_seconds,
     EXCLUDED.probes, EXCLUDED.state, EXCLUDED.forced, EXCLUDED.reason, EXCLUDED.changed_at,
     EXCLUDED.half_open_at, EXCLUDED.window_started_at, EXCLUDED.window_attempts, EXCLUDED.window_failures,
     EXCLUDED.prev_attempts, EXCLUDED.prev_failures, EXCLUDED.probes_leased, EXCLUDED.probe_successes)"""
DELETE = "DELETE FROM broker_queue_breakers WHERE queue = $1"
LOG = """INSERT INTO broker_breaker_events (queue, from_state, to_state, reason, forced, at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::timestamptz[])"""


def breaker(row) -> Breaker:
    settings = BreakerSettings(row[1], row[2], row[3], row[4], row[5])
    window = Window(row[11], row[12], row[13], row[14], row[15])
    return Breaker(row[0], settings, BreakerState(row[6]), row[7], row[8], row[9], row[10], window,
                   row[16], row[17])


def values(b: Breaker) -> tuple:
    s, w = b.settings, b.window
    return (b.queue, s.window, s.min_attempts, s.failure_rate, s.cool_down, s.probes, b.state.value, b.forced,
            b.reason, b.changed_at, b.half_open_at, w.started_at, w.attempts, w.failures, w.prev_attempts,
            w.prev_failures, b.probes_leased, b.probe_successes)


def event_columns(events: list[BreakerEvent]) -> list[list]:
    return [[e.queue for e in events], [e.from_state.value for e in events], [e.to_state.value for e in events],
            [e.reason for e in events], [e.forced for e in events], [e.at for e in events]]
