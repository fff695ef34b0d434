"""Per-call values: the edge (the gRPC interceptors) sets them, inner layers may read them.

Plain contextvars of plain types, so that the use cases, the PostgreSQL adapter and the log
filter can see the call they serve without importing gRPC. Each RPC runs in its own asyncio
task, so a value set for one call is never seen by another.
"""

from __future__ import annotations

import contextvars
import time
from typing import Any

# The request id of the call: from the client's x-request-id, or made by the broker.
request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# Who is calling (a broker.entities.auth.Principal), once authenticated; None without auth.
principal: contextvars.ContextVar[Any] = contextvars.ContextVar("principal", default=None)

# When the call's deadline passes, on the time.monotonic() clock; None when it has none.
deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


def time_left() -> float | None:
    """Seconds until the call's deadline (negative once passed), or None without a deadline."""
    at = deadline.get()
    return None if at is None else at - time.monotonic()
