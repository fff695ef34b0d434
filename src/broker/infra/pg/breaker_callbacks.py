"""The callback of a breaker that opens: in the transaction that logs the change, one delivery
job on the internal queue for each subscription that asked for `queue.breaker_opened` and
whose queue filter matches (a subscription's kind filter is for job events: a queue event has
no kind), with its enqueue event, as infra/pg/callbacks_sql.py does for the moves of jobs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from broker.entities.breaker import BreakerEvent, BreakerState
from broker.entities.callback import CALLBACK_QUEUE, SUBSCRIPTION_HEADER, CallbackEvent
from broker.entities.job import MOVES, Event, JobState, Reason
from broker.infra.pg.callbacks_sql import DELIVERY_LEASE
from broker.infra.pg.moves import EventRow, literal, target

_EVENT = CallbackEvent.QUEUE_BREAKER_OPENED.value
_ENQUEUED = EventRow(MOVES[Reason.ENQUEUE], attempt="0", worker_id="NULL")
_STAMP = """to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""

# $1 queues, $2 the states they left, $3 reasons, $4 forced, $5 times, $6 the statement's now.
ANNOUNCE = f"""
WITH e AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::timestamptz[])
        AS e(queue, from_state, reason, forced, at)
), callbacks AS (
    INSERT INTO broker_jobs (queue, kind, payload, headers, state, run_at, max_attempts, retry_initial,
        retry_max, retry_multiplier, retry_jitter, lease_duration, created_at, updated_at)
    SELECT {literal(CALLBACK_QUEUE)}, {literal(_EVENT)}, convert_to(jsonb_build_object(
            'type', {literal(_EVENT)}, 'timestamp', {_STAMP}, 'data', jsonb_build_object(
                'queue', e.queue, 'from', e.from_state, 'to', 'open', 'reason', e.reason,
                'forced', e.forced))::text, 'UTF8'),
        jsonb_build_object({literal(SUBSCRIPTION_HEADER)}, s.name), {target(MOVES[Reason.ENQUEUE])}, $6,
        s.max_attempts, s.retry_initial, s.retry_max, s.retry_multiplier, s.retry_jitter, {DELIVERY_LEASE}, $6, $6
    FROM e JOIN broker_callbacks s ON {literal(_EVENT)} = ANY(s.events) AND (s.queue IS NULL OR s.queue = e.queue)
    ORDER BY s.name, e.queue
    RETURNING id, queue, kind
), ev AS (
    {_ENQUEUED.insert("callbacks", "$6")}
)
SELECT id::text, kind FROM callbacks
"""


async def announce(conn, events: Sequence[BreakerEvent], now: datetime) -> list[Event]:
    """The deliveries of the breakers among `events` that opened; their enqueue events."""
    opened = [e for e in events if e.to_state is BreakerState.OPEN]
    if not opened:
        return []
    rows = await conn.fetch(ANNOUNCE, [e.queue for e in opened], [e.from_state.value for e in opened],
                            [e.reason for e in opened], [e.forced for e in opened], [e.at for e in opened], now)
    return [Event(r[0], CALLBACK_QUEUE, None, JobState.PENDING, Reason.ENQUEUE, 0, now, kind=r[1]) for r in rows]
