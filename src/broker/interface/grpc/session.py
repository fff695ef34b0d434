"""JobService.WorkerSession: a worker's Lease, Heartbeat, Ack and Nack over one stream.

The request pipeline's stages wrap unary handlers only (interceptors/base.py), so a session runs
each call through the unary handler of its method as the pipeline wrapped it, with a
`CallContext` in place of the ServicerContext: the stream's metadata (credentials) and peer,
and the call's own request id, deadline and outcome. Every call is therefore authenticated,
authorized, rate limited, validated, logged and counted exactly as its unary twin; what a
session saves is gRPC's own cost per call (a new HTTP/2 stream with its headers and trailers,
and the call objects on both sides).

Calls run concurrently (up to MAX_IN_FLIGHT per session; reading waits beyond that) and answer
as they finish, matched by the worker's id; a `cancel` request stops a call the worker gave up
on, which then gets no answer. At shutdown (`close`) a session stops reading, answers the calls
in flight and ends with UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import grpc
from google.rpc import error_details_pb2, status_pb2

from broker.interface.grpc.interceptors.base import Malformed, Stage
from broker.interface.grpc.interceptors.request_id import HEADER as REQUEST_ID_HEADER
from broker.v1 import job_service_pb2 as pb

log = logging.getLogger("broker.grpc")

SERVICE = "/broker.v1.JobService/"
# The session's calls: the request's oneof field -> the unary method it stands for.
CALLS = {"lease": "Lease", "heartbeat": "Heartbeat", "ack": "Ack", "nack": "Nack"}
MAX_IN_FLIGHT = 64
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_STATUS_DETAILS = "grpc-status-details-bin"


class Pipeline:
    """The unary handlers of a service's methods, wrapped by the request pipeline's stages the
    way grpc.aio wraps them for a unary call (outermost stage first)."""

    def __init__(self, stages: Sequence[Any], handlers: dict[str, grpc.RpcMethodHandler]) -> None:
        self._stages = [s for s in stages if isinstance(s, Stage)]
        self._handlers = handlers
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def handler(self, method: str) -> grpc.RpcMethodHandler:
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            wrapped = self._handlers[method]
            details = _Details(method)
            for stage in reversed(self._stages):
                async def continuation(_details, inner=wrapped):
                    return inner
                wrapped = await stage.intercept_service(continuation, details)
            self._wrapped[method] = wrapped
        return wrapped


class _Details(grpc.HandlerCallDetails):
    def __init__(self, method: str) -> None:
        self.method, self.invocation_metadata = method, ()


class CallAborted(grpc.aio.AbortError):
    """Raised by CallContext.abort, as grpc.aio raises AbortError for a unary call (so the stages
    treat it the same: the status is in the context)."""


class CallContext:
    """The ServicerContext of one call on a session (the subset the pipeline and servicers use)."""

    __slots__ = ("_stream", "_metadata", "_deadline", "_code", "_details", "_trailing")

    def __init__(self, stream: grpc.aio.ServicerContext, request_id: str, timeout: float | None) -> None:
        # The stream's x-request-id would name every call the same: each call brings its own.
        metadata = [(k, v) for k, v in stream.invocation_metadata() or () if k != REQUEST_ID_HEADER]
        if request_id:
            metadata.append((REQUEST_ID_HEADER, request_id))
        self._stream, self._metadata = stream, tuple(metadata)
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._code: grpc.StatusCode | None = None
        self._details = ""
        self._trailing: tuple = ()

    def invocation_metadata(self) -> tuple:
        return self._metadata

    def peer(self) -> str:
        return self._stream.peer()

    def time_remaining(self) -> float | None:
        stream_left = self._stream.time_remaining()
        if self._deadline is None:
            return stream_left
        left = self._deadline - time.monotonic()
        return left if stream_left is None else min(left, stream_left)

    def set_trailing_metadata(self, metadata) -> None:
        self._trailing = tuple(metadata)

    def trailing_metadata(self) -> tuple:
        return self._trailing

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    async def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata=()) -> None:
        self._code, self._details = code, details
        if trailing_metadata:
            self._trailing = tuple(trailing_metadata)
        raise CallAborted(details)

    def request_id(self) -> str:
        for key, value in self._trailing:
            if key == REQUEST_ID_HEADER:
                return value
        return ""


class WorkerSessions:
    """Serves WorkerSession streams through `pipeline`; `close` ends them all (shutdown)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self._closing = asyncio.Event()

    def close(self) -> None:
        self._closing.set()

    async def serve(self, requests, context: grpc.aio.ServicerContext) -> None:
        """The WorkerSession handler: read calls, run each in a task, write each answer."""
        writing = asyncio.Lock()
        slots = asyncio.Semaphore(MAX_IN_FLIGHT)
        running: dict[int, asyncio.Task] = {}
        reader = requests.__aiter__()
        closing = asyncio.ensure_future(self._closing.wait())
        read: asyncio.Future | None = None
        try:
            while not self._closing.is_set():
                read = asyncio.ensure_future(reader.__anext__())
                await asyncio.wait({read, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not read.done():  # shutting down
                    break
                try:
                    message = read.result()
                except StopAsyncIteration:  # the worker half-closed: answer what it asked
                    break
                if not isinstance(message, Malformed) and message.WhichOneof("call") == "cancel":
                    given_up = running.get(message.cancel)
                    if given_up is not None:
                        given_up.cancel()
                    continue
                await slots.acquire()
                key = object() if isinstance(message, Malformed) else message.id
                task = asyncio.create_task(self._answer(message, context, writing))
                running[key] = task
                task.add_done_callback(lambda t, key=key: (
                    running.pop(key) if running.get(key) is t else None, slots.release()))
            if running:
                await asyncio.gather(*running.values(), return_exceptions=True)
        except asyncio.CancelledError:  # the worker went away (or the server stopped)
            for task in running.values():
                task.cancel()
            raise
        finally:
            closing.cancel()
            if read is not None:  # maybe still waiting, maybe ended unread: never left unretrieved
                read.cancel()
                read.add_done_callback(_consume)
        if self._closing.is_set():
            await context.abort(grpc.StatusCode.UNAVAILABLE,
                                "the broker is shutting down; open a new session")

    async def _answer(self, message: pb.SessionRequest, stream, writing: asyncio.Lock) -> None:
        try:
            response = await self.call(message, stream)
        except Exception:  # noqa: BLE001 - the error stage turns the servicer's into answers: a bug
            log.exception("session call %s failed outside the request pipeline", getattr(message, "id", 0))
            response = pb.SessionResponse(id=getattr(message, "id", 0))
            response.error.code = grpc.StatusCode.INTERNAL.value[0]
            response.error.message = "internal error"
        try:
            async with writing:
                await stream.write(response)
        except Exception as exc:  # noqa: BLE001 - the stream is gone; its reader ends the session
            log.debug("session answer %s not written: %s", getattr(message, "id", 0), exc)

    async def call(self, message: pb.SessionRequest, stream) -> pb.SessionResponse:
        """One call: through the pipeline as its unary twin; the result or the error."""
        if isinstance(message, Malformed):  # its id is unknown: the answer has id 0
            response = pb.SessionResponse()
            response.error.code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
            response.error.message = (f"request: the bytes are not a valid SessionRequest "
                                      f"({type(message.error).__name__})")
            return response
        response = pb.SessionResponse(id=message.id)
        kind = message.WhichOneof("call")
        if kind not in CALLS:
            response.error.code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
            response.error.message = "call: set one of lease, heartbeat, ack, nack"
            return response
        timeout = None
        if message.HasField("timeout"):
            timeout = message.timeout.seconds + message.timeout.nanos / 1e9
            if timeout <= 0:
                response.error.code = grpc.StatusCode.INVALID_ARGUMENT.value[0]
                response.error.message = "timeout: must be positive when set"
                return response
        context = CallContext(stream, message.request_id, timeout)
        handler = await self._pipeline.handler(SERVICE + CALLS[kind])
        try:
            result = await handler.unary_unary(getattr(message, kind), context)
            getattr(response, kind).CopyFrom(result)
        except CallAborted:
            code = context.code() or grpc.StatusCode.UNKNOWN
            response.error.code = code.value[0]
            response.error.message = context.details()
            delay = _retry_delay(context.trailing_metadata())
            if delay is not None:
                response.error.retry_delay.CopyFrom(delay)
        response.request_id = context.request_id()
        return response


def _consume(future: asyncio.Future) -> None:
    """Retrieve what an abandoned read ended with (the stream's end), so asyncio does not warn."""
    if not future.cancelled():
        future.exception()


def _retry_delay(trailing: Sequence[tuple[str, Any]]):
    """RetryInfo's delay from the error stage's status-details trailer, if it carried one."""
    for key, value in trailing:
        if key == _STATUS_DETAILS and isinstance(value, bytes):
            for detail in status_pb2.Status.FromString(value).details:
                if detail.type_url == _RETRY_INFO:
                    return error_details_pb2.RetryInfo.FromString(detail.value).retry_delay
    return None

