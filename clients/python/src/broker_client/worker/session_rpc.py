"""The worker's four calls over one WorkerSession stream (cheaper per call than unary RPCs).

Same methods and same failures as WorkerRpc: a call that fails raises a ``grpc.RpcError``
with ``code()``, ``details()`` and ``trailing_metadata()`` (RetryInfo included), so the pool,
the settler and the heartbeater treat both alike. The stream opens on first use and again on the
next call after it broke; calls waiting on a broken stream fail with its status (UNAVAILABLE when
it simply ended, as at a broker's shutdown) and are retried by their loops. A broker that does
not serve sessions (UNIMPLEMENTED) gets unary calls from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import grpc

from ..v1 import job_service_pb2 as pb
from .call_failed import CallFailed, ended, failure
from .rpc import AckRef, WorkerRpc, ack_request, duration

log = logging.getLogger("broker_client.worker")


class SessionRpc:
    """Lease, Heartbeat, Ack, Nack and Snooze for one worker over a WorkerSession stream."""

    def __init__(self, unary: WorkerRpc, stub: Any, metadata: Sequence[tuple[str, str]], timeout: float) -> None:
        self._unary = unary
        self._stub, self._metadata, self._timeout = stub, tuple(metadata), timeout
        self.worker_id, self.queues, self.lease_duration = unary.worker_id, unary.queues, unary.lease_duration
        self._call: Any = None
        self._reader: asyncio.Task[None] | None = None
        # Calls waiting for their answer: id -> (future, the stream it was sent on).
        self._pending: dict[int, tuple[asyncio.Future[pb.SessionResponse], Any]] = {}
        self._next_id = 0
        self._writing = asyncio.Lock()
        self.unary_only = False
        self.opened = 0  # streams opened so far
        self._cancels: set[asyncio.Task[None]] = set()

    async def lease(self, max_jobs: int, wait: float) -> Sequence[pb.LeasedJob]:
        if not self.unary_only:
            with contextlib.suppress(_NoSessions):
                # The long poll may use all of `wait`; the deadline covers it plus an ordinary call.
                return list((await self._ask("lease", self._unary.lease_request(max_jobs, wait), wait)).jobs)
        return await self._unary.lease(max_jobs, wait)

    async def heartbeat(self, refs: Sequence[pb.LeaseRef],
                        items: Sequence[pb.HeartbeatItem] = ()) -> Sequence[pb.LeaseResult]:
        if not self.unary_only:
            with contextlib.suppress(_NoSessions):
                return list((await self._ask("heartbeat", self._unary.heartbeat_request(refs, items))).results)
        return await self._unary.heartbeat(refs, items)

    async def ack(self, refs: Sequence[AckRef]) -> Sequence[pb.LeaseResult]:
        if not self.unary_only:
            with contextlib.suppress(_NoSessions):
                return list((await self._ask("ack", ack_request(refs))).results)
        return await self._unary.ack(refs)

    async def nack(self, items: Sequence[pb.NackItem]) -> Sequence[pb.LeaseResult]:
        if not self.unary_only:
            with contextlib.suppress(_NoSessions):
                return list((await self._ask("nack", pb.NackRequest(items=items))).results)
        return await self._unary.nack(items)

    async def snooze(self, items: Sequence[pb.SnoozeItem]) -> Sequence[pb.LeaseResult]:
        if not self.unary_only:
            with contextlib.suppress(_NoSessions):
                try:
                    return list((await self._ask("snooze", pb.SnoozeRequest(items=items))).results)
                except CallFailed as failed:
                    # A broker older than Snooze reads no call in the request: unary calls decide.
                    if failed.code() != grpc.StatusCode.INVALID_ARGUMENT or not failed.details().startswith("call:"):
                        raise
        return await self._unary.snooze(items)

    async def close(self) -> None:
        """End the stream: the broker answers what is in flight, then the reader stops."""
        call, reader = self._call, self._reader
        self._call = None
        if call is None:
            return
        try:
            if self._cancels:  # calls given up on are stopped on the broker first
                await asyncio.gather(*self._cancels, return_exceptions=True)
            async with self._writing:
                await call.done_writing()
            if reader is not None:
                await asyncio.wait({reader}, timeout=self._timeout)
        except (grpc.RpcError, asyncio.InvalidStateError):
            pass  # the stream had already ended
        finally:
            call.cancel()
            if reader is not None:
                reader.cancel()

    async def _ask(self, kind: str, request: Any, extra_wait: float = 0.0) -> Any:
        timeout = self._timeout + extra_wait
        self._next_id += 1
        call_id = self._next_id
        message = pb.SessionRequest(id=call_id, **{kind: request})
        message.timeout.CopyFrom(duration(timeout))
        try:
            response = await self._exchange(call_id, message, timeout)
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.UNIMPLEMENTED:
                if not self.unary_only:
                    log.info("the broker serves no worker sessions: using unary calls")
                self.unary_only = True
                raise _NoSessions() from error
            raise
        if response.WhichOneof("result") == "error":
            raise failure(response.error)
        return getattr(response, kind)

    async def _exchange(self, call_id: int, message: pb.SessionRequest, timeout: float) -> pb.SessionResponse:
        """Send one call on the stream (opened if need be) and wait up to `timeout` for its answer."""
        future: asyncio.Future[pb.SessionResponse] = asyncio.get_running_loop().create_future()
        try:
            call = self._open()
            self._pending[call_id] = (future, call)
            await self._send(call, message)
            try:
                async with asyncio.timeout(timeout):
                    return await future
            except TimeoutError:
                self._give_up(call, call_id)
                raise CallFailed(grpc.StatusCode.DEADLINE_EXCEEDED,
                                 f"no answer on the session within {timeout:g} s") from None
            except asyncio.CancelledError:  # e.g. the lease loop at shutdown: stop it on the broker too
                if future.cancelled() or not future.done():  # (cancelling us cancels the future)
                    self._give_up(call, call_id)
                raise
        finally:
            self._pending.pop(call_id, None)

    async def _send(self, call: Any, message: pb.SessionRequest) -> None:
        try:
            async with self._writing:
                await call.write(message)
        except (grpc.RpcError, asyncio.InvalidStateError) as exc:
            # The stream broke under us: every call waiting on it fails; the next opens anew.
            if self._call is call:
                self._call = None
            self._fail_all(call, exc if isinstance(exc, grpc.RpcError) else ended())

    def _give_up(self, call: Any, call_id: int) -> None:
        """Tell the broker to stop call `call_id` (a long poll would otherwise claim jobs nobody
        takes, which wait out their lease), as cancelling a unary call does."""
        if call.done():
            return

        async def send() -> None:
            try:
                async with self._writing:
                    await call.write(pb.SessionRequest(cancel=call_id))
            except (grpc.RpcError, asyncio.InvalidStateError):
                pass  # the stream ended: the broker stopped the call with it
        task = asyncio.get_running_loop().create_task(send(), name="broker-session-cancel")
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    def _open(self) -> Any:
        if self._call is None or self._call.done():  # none yet, or it ended (its reader may lag)
            self._call = self._stub.WorkerSession(metadata=self._metadata)
            self._reader = asyncio.get_running_loop().create_task(self._read(self._call), name="broker-session")
            self.opened += 1
        return self._call

    async def _read(self, call: Any) -> None:
        error: grpc.RpcError = ended()
        try:
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    break
                waiting = self._pending.get(response.id)
                if waiting is not None and waiting[1] is call and not waiting[0].done():
                    waiting[0].set_result(response)
        except grpc.RpcError as exc:
            error = exc
        except asyncio.CancelledError:
            if not call.cancelled():  # this task was cancelled, not the call
                raise
        finally:
            if self._call is call:
                self._call = None
            self._fail_all(call, error)

    def _fail_all(self, call: Any, error: grpc.RpcError) -> None:
        """Every call waiting for an answer on `call` (a stream that ended) fails with `error`."""
        for future, on in self._pending.values():
            if on is call and not future.done():
                future.set_exception(error)


class _NoSessions(Exception):
    """The broker does not serve WorkerSession: the call goes as a unary RPC instead."""
