"""SQL fragments about a queue's controls (broker_queues), shared by the plain claim (sql.py),
the lock of a counted claim (queries.py) and the counted claim itself (claims.py)."""

# A queue whose claim counts something under the queue row's lock: the plain claim leaves it
# to claims.CLAIM_LIMITED.
COUNTED = "(concurrency_limit IS NOT NULL OR per_key_concurrency IS NOT NULL OR rate_limit IS NOT NULL)"


def tokens(now: str, row: str = "") -> str:
    """A queue's tokens at `now` (NULL without a rate limit): refilled at rate_limit per second
    since rate_refilled_at, at most rate_burst; a `now` before rate_refilled_at refills nothing
    (entities/flow_limits.py Bucket.at is the same arithmetic)."""
    p = row + "." if row else ""
    return (f"least({p}rate_burst, {p}rate_tokens + {p}rate_limit * "
            f"greatest(0, extract(epoch FROM {now}::timestamptz - {p}rate_refilled_at)::float8))")
