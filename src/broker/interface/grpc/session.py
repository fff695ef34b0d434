"""JobService.WorkerSession: a worker's Lease, Heartbeat, Ack, Nack and Snooze over one stream.

Each call on a session runs through the same request pipeline as its unary twin: the chain of
stages (interceptors/base.py) over a `Call` with the stream's metadata (credentials) and peer,
and the call's own method name, request id and deadline. Every call is therefore authenticated,
authorized, rate limited, validated, logged and counted exactly as its unary twin, and its
errors are mapped by status.py alike (the answer's `error` has the code, message and RetryInfo
delay of the unary call's status); what a session saves is gRPC's own cost per call (a new
HTTP/2 stream with its headers and trailers, and the call objects on both sides).

Calls run concurrently (up to MAX_IN_FLIGHT per session; reading waits beyond that) and answer
as they finish, matched by the worker's id; a `cancel` request stops a call the worker gave up
on, which then gets no answer. At shutdown (`close`) a session stops reading, answers the calls
in flight and ends with UNAVAILABLE.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc

from broker.entities.errors import InvalidArgument
from broker.interface.grpc.interceptors.base import Call, Malformed, Proceed
from broker.interface.grpc.interceptors.request_id import HEADER as REQUEST_ID_HEADER
from broker.interface.grpc.status import CallFailed, failure
from broker.v1 import job_service_pb2 as pb

log = logging.getLogger("broker.grpc")

SERVICE = "/broker.v1.JobService/"
# The session's calls: the request's oneof field -> the unary method it stands for.
CALLS = {"lease": "Lease", "heartbeat": "Heartbeat", "ack": "Ack", "nack": "Nack", "snooze": "Snooze"}
METHODS = {kind: SERVICE + name for kind, name in CALLS.items()}
MAX_IN_FLIGHT = 64


class WorkerSessions:
    """Serves WorkerSession streams, each call through `run` (the request pipeline, as
    base.compose builds it) to the servicer's unary method; `close` ends them all (shutdown)."""

    def __init__(self, run: Proceed) -> None:
        self._run = run
        self._closing = asyncio.Event()

    def close(self) -> None:
        self._closing.set()

    async def serve(self, requests, context: grpc.aio.ServicerContext, servicer: Any) -> None:
        """The WorkerSession handler of `servicer`: read calls, run each in a task, write each answer."""
        stream = _Stream(context, servicer)
        calls = _Calls(self, stream)
        running = calls.running
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
                await calls.start(message)
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

    async def _answer(self, message: pb.SessionRequest, stream: _Stream, writing: asyncio.Lock) -> None:
        try:
            response = await self.call(message, stream)
        except Exception:  # noqa: BLE001 - the error stage turns the servicer's into answers: a bug
            log.exception("session call %s failed outside the request pipeline", getattr(message, "id", 0))
            response = _failed(pb.SessionResponse(id=getattr(message, "id", 0)),
                               CallFailed(grpc.StatusCode.INTERNAL, "internal error"))
        try:
            async with writing:
                await stream.context.write(response)
        except Exception as exc:  # noqa: BLE001 - the stream is gone; its reader ends the session
            log.debug("session answer %s not written: %s", getattr(message, "id", 0), exc)

    async def call(self, message: pb.SessionRequest, stream: _Stream) -> pb.SessionResponse:
        """One call: through the pipeline as its unary twin; the result or the error."""
        if isinstance(message, Malformed):  # its id is unknown: the answer has id 0
            refusal = InvalidArgument("request", f"the bytes are not a valid SessionRequest "
                                                 f"({type(message.error).__name__})")
            return _failed(pb.SessionResponse(), failure(refusal, "", ""))
        response = pb.SessionResponse(id=message.id)
        try:
            kind, call = stream.call(message)
        except InvalidArgument as refusal:
            return _failed(response, failure(refusal, "", ""))
        try:
            getattr(response, kind).CopyFrom(await self._run(call))
        except CallFailed as failed:
            _failed(response, failed)
        response.request_id = call.request_id
        return response


class _Calls:
    """The calls of one session still running, by the worker's id, at most MAX_IN_FLIGHT."""

    def __init__(self, sessions: WorkerSessions, stream: _Stream) -> None:
        self._sessions, self._stream = sessions, stream
        self._writing, self._slots = asyncio.Lock(), asyncio.Semaphore(MAX_IN_FLIGHT)
        self.running: dict[object, asyncio.Task] = {}

    async def start(self, message: pb.SessionRequest | Malformed) -> None:
        """Run a call in a task of its own (waiting for a slot), or cancel the one named."""
        running = self.running
        if not isinstance(message, Malformed) and message.WhichOneof("call") == "cancel":
            given_up = running.get(message.cancel)
            if given_up is not None:
                given_up.cancel()
            return
        await self._slots.acquire()
        key = object() if isinstance(message, Malformed) else message.id
        task = asyncio.create_task(self._sessions._answer(message, self._stream, self._writing))
        running[key] = task
        task.add_done_callback(lambda t, key=key: (
            running.pop(key) if running.get(key) is t else None, self._slots.release()))


class _Stream:
    """One session's stream: what its calls share (the metadata without the stream's own
    x-request-id, which would name every call alike; the peer; the servicer)."""

    __slots__ = ("context", "servicer", "_metadata")

    def __init__(self, context: grpc.aio.ServicerContext, servicer: Any) -> None:
        self.context, self.servicer = context, servicer
        self._metadata = tuple((k, v) for k, v in context.invocation_metadata() or () if k != REQUEST_ID_HEADER)

    def call(self, message: pb.SessionRequest) -> tuple[str, Call]:
        """The `Call` a session request stands for; InvalidArgument when it is not one."""
        kind = message.WhichOneof("call")
        if kind not in CALLS:
            raise InvalidArgument("call", "set one of lease, heartbeat, ack, nack, snooze")
        deadline = self._deadline()
        if message.HasField("timeout"):
            timeout = message.timeout.seconds + message.timeout.nanos / 1e9
            if timeout <= 0:
                raise InvalidArgument("timeout", "must be positive when set")
            own = time.monotonic() + timeout
            deadline = own if deadline is None else min(own, deadline)
        metadata = self._metadata
        if message.request_id:
            metadata = (*metadata, (REQUEST_ID_HEADER, message.request_id))
        return kind, Call(METHODS[kind], getattr(message, kind), metadata, self.context.peer, deadline,
                          getattr(self.servicer, CALLS[kind]), self.context)

    def _deadline(self) -> float | None:
        left = self.context.time_remaining()
        return None if left is None else time.monotonic() + left


def _failed(response: pb.SessionResponse, failed: CallFailed) -> pb.SessionResponse:
    """`response` answering with `failed` (the code, message and RetryInfo delay that its
    unary twin's status would carry)."""
    response.error.code = failed.code.value[0]
    response.error.message = failed.message
    delay = failed.retry_delay()
    if delay is not None:
        response.error.retry_delay.CopyFrom(delay)
    return response


def _consume(future: asyncio.Future) -> None:
    """Retrieve what an abandoned read ended with (the stream's end), so asyncio does not warn."""
    if not future.cancelled():
        future.exception()
