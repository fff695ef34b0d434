"""What every stage of the request pipeline shares: the `Call` it sees and how stages chain.

A stage is a plain async callable `stage(call, proceed)`: it acts before the call, awaits
`proceed(call)` for the rest of the chain, and may act after. It sees only the `Call` (method,
parsed request, metadata, peer, deadline, request id), never a gRPC ServicerContext, so the
same chain serves a unary RPC (`PipelineInterceptor`, unary.py) and each call on a worker
session (session.py). A refusal is a domain error; the error stage turns every exception into a
`CallFailed` (status.py), which the unary adapter sends as the RPC's status and a session as the
call's `error`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import grpc

from broker.interface.grpc.status import CallFailed


class Call:
    """One call as the stages see it. `handler(request, context)` is the servicer method the
    chain ends in; `context` is handed to it untouched (the stages never use it)."""

    __slots__ = ("method", "request", "metadata", "peer", "deadline", "request_id", "handler", "context")

    def __init__(self, method: str, request: Any, metadata: Sequence[tuple[str, Any]],
                 peer: Callable[[], str], deadline: float | None, handler: Callable[..., Awaitable[Any]],
                 context: Any = None) -> None:
        self.method, self.request, self.metadata, self.peer = method, request, metadata, peer
        self.deadline = deadline  # on the time.monotonic() clock; None without one
        self.request_id = ""      # set by the request id stage
        self.handler, self.context = handler, context

    def header(self, key: str) -> str | None:
        """The first value of a (lower-case) metadata key, or None."""
        for k, v in self.metadata or ():
            if k == key:
                return v if isinstance(v, str) else None
        return None

    def time_remaining(self) -> float | None:
        """Seconds until the deadline (negative once passed), or None without one."""
        return None if self.deadline is None else self.deadline - time.monotonic()


Proceed = Callable[[Call], Awaitable[Any]]
Stage = Callable[[Call, Proceed], Awaitable[Any]]


async def invoke(call: Call) -> Any:
    """The end of every chain: the servicer method."""
    return await call.handler(call.request, call.context)


def compose(stages: Sequence[Stage], last: Proceed = invoke) -> Proceed:
    """`stages` (outermost first) around `last`, as one `run(call)`. Built once: each stage gets
    the rest of the chain ready-made, a plain function that returns the next stage's coroutine,
    so a call costs one coroutine per stage (a hot path: every lease and ack)."""
    run = last
    for stage in reversed(stages):
        run = _bind(stage, run)
    return run


def _bind(stage: Stage, proceed: Proceed) -> Proceed:
    return lambda call: stage(call, proceed)


class AfterCallStage:
    """A stage that acts once the call is over (logs, metrics): `finished` gets the status code
    the call ended with and how long the rest of the chain took."""

    async def __call__(self, call: Call, proceed: Proceed) -> Any:
        started, code = time.perf_counter(), grpc.StatusCode.OK
        try:
            return await proceed(call)
        except BaseException as exc:
            code = outcome(call, exc)
            raise
        finally:
            self.finished(call, code, time.perf_counter() - started)

    def finished(self, call: Call, code: grpc.StatusCode, seconds: float) -> None:
        raise NotImplementedError


def outcome(call: Call, exc: BaseException) -> grpc.StatusCode:
    """The status a call ended with, as seen from a stage outside the error stage."""
    if isinstance(exc, CallFailed):
        return exc.code
    if isinstance(exc, asyncio.CancelledError):
        # gRPC cancels the handler when the client goes away or the deadline passes.
        left = call.time_remaining()
        return grpc.StatusCode.DEADLINE_EXCEEDED if left is not None and left <= 0 else grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN


class Malformed:
    """Stands in for a request whose bytes did not parse, so that the pipeline (not gRPC's
    generic UNKNOWN) answers it."""

    __slots__ = ("error",)

    def __init__(self, error: Exception) -> None:
        self.error = error


def tolerant(parse: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if parse is None:
        return None

    def parse_or_mark(data: bytes) -> Any:
        try:
            return parse(data)
        except Exception as exc:  # noqa: BLE001 - any parse failure is the caller's malformed input
            return Malformed(exc)
    return parse_or_mark
