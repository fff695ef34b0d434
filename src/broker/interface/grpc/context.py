"""Per-call values that interceptors set and servicers read. They live in broker.usecases.context
so that inner layers (the store, the log filter) can read them without importing gRPC."""

from __future__ import annotations

from broker.usecases.context import deadline, principal, request_id

__all__ = ["deadline", "principal", "request_id"]
