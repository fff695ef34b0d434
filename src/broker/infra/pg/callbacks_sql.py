"""The statements of sql.py that move jobs into a callback event, each with two more CTEs: the
delivery jobs for the subscriptions that want the event (on the internal queue, inserted by the
same statement as the move, so a committed move has its deliveries and a rolled-back one has
none) and their enqueue events. The events come from broker.entities.callback.EVENT_OF, rendered
here; with no subscription the CTEs insert nothing (one look at an empty table).

The store runs these in place of sql.COMPLETE, FAIL, EXPIRE and CANCEL."""

from __future__ import annotations

import re

from broker.entities.callback import CALLBACK_QUEUE, EVENT_OF, INTERNAL_PREFIX, SUBSCRIPTION_HEADER
from broker.entities.job import MOVES, Reason
from broker.infra.pg import sql
from broker.infra.pg.moves import EventRow, literal, target

# The lease a delivery job's row says (the delivery worker leases with its own duration).
DELIVERY_LEASE = 60.0
_ENQUEUED = EventRow(MOVES[Reason.ENQUEUE], attempt="0", worker_id="NULL")
_MARK = "\n), ev AS ("


def _event(reason: Reason, state: str) -> str:
    """The event of each moved row, by the state it went to (NULL: none)."""
    whens = " ".join(f"WHEN {literal(s.value)} THEN {literal(e.value)}"
                     for (r, s), e in EVENT_OF.items() if r is reason)
    return f"CASE {state} {whens} END"


def deliveries(reason: Reason, state: str, at: str, result: str = "NULL::bytea", error: str = "NULL::text") -> str:
    """The two CTEs, over the statement's `changed` rows (id, queue, kind, attempt and what the
    expressions read); `state` is each row's new state, `at` the statement's now."""
    stamp = f"""to_char({at} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"""
    return f"""
), callbacks AS (
    INSERT INTO broker_jobs (queue, kind, payload, headers, state, run_at, max_attempts, retry_initial,
        retry_max, retry_multiplier, retry_jitter, lease_duration, created_at, updated_at)
    SELECT {literal(CALLBACK_QUEUE)}, e.event, convert_to(jsonb_build_object(
            'type', e.event, 'timestamp', {stamp}, 'data', jsonb_build_object(
                'job_id', e.id::text, 'queue', e.queue, 'kind', e.kind, 'state', e.state,
                'attempt', e.attempt, 'result', translate(encode(e.result, 'base64'), E'\\n', ''),
                'error', e.error))::text, 'UTF8'),
        jsonb_build_object({literal(SUBSCRIPTION_HEADER)}, s.name), 'pending', {at}, s.max_attempts,
        s.retry_initial, s.retry_max, s.retry_multiplier, s.retry_jitter, {DELIVERY_LEASE}, {at}, {at}
    FROM (SELECT c.id, c.queue, c.kind, c.attempt, {state} AS state, {result} AS result, {error} AS error,
                 {_event(reason, state)} AS event
          FROM changed c WHERE left(c.queue, {len(INTERNAL_PREFIX)}) <> {literal(INTERNAL_PREFIX)}
            AND EXISTS (SELECT FROM broker_callbacks)) e  -- none: a one-time filter, nothing scanned
    JOIN broker_callbacks s ON e.event = ANY(s.events) AND (s.queue IS NULL OR s.queue = e.queue)
        AND (s.kind IS NULL OR s.kind = e.kind)
    ORDER BY s.name, e.id
    RETURNING id, queue, kind
), callback_events AS (
    {_ENQUEUED.insert("callbacks", at)}"""


# The deliveries a statement made, as a column of each of its rows after the job's id, queue and
# kind (rows.deliveries reads it): [[id, kind], ...], NULL for none.
_MADE = "(SELECT array_agg(ARRAY[id::text, kind]) FROM callbacks) AS deliveries, "
_FINAL = re.compile(r"^(SELECT (?:o\.)?id::text, (?:o\.)?queue, (?:o\.)?kind, )", re.M)


def with_deliveries(statement: str, ctes: str) -> str:
    """`statement` with `ctes` after its `changed` CTE, and the deliveries in its rows."""
    if statement.count(_MARK) != 1 or len(_FINAL.findall(statement)) != 1:
        raise ValueError("a statement with deliveries has one `changed` CTE followed by `ev`, and one "
                         "final SELECT beginning with the job's id, queue and kind")
    return _FINAL.sub(lambda m: m.group(1) + _MADE, statement.replace(_MARK, ctes + _MARK))


COMPLETE = with_deliveries(sql.COMPLETE, deliveries(Reason.ACK, target(MOVES[Reason.ACK]), "$3::timestamptz",
                                                    result="c.result"))
FAIL = with_deliveries(sql.FAIL, deliveries(Reason.NACK, "c.next_state", "$6::timestamptz", error="c.error"))
EXPIRE = with_deliveries(sql.EXPIRE, deliveries(Reason.EXPIRE, "c.next_state", "$5::timestamptz", error="c.error"))
CANCEL = with_deliveries(sql.CANCEL, deliveries(Reason.CANCEL, target(MOVES[Reason.CANCEL]), "$2::timestamptz"))
