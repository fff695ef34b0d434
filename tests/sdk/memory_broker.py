"""The broker itself for the SDK's tests, without PostgreSQL: the interactors and servicers that
the composition root builds (broker.app.build), over the in-memory store (which tests/contract
checks against PostgreSQL) and the real LocalNotifier, served by a real grpc.aio server on
127.0.0.1:<free port>. There is no second broker to drift from the real one.

A test scripts faults (``fail_next("Lease", UNAVAILABLE)``), takes a lease away (``lose``), and
reads what the broker was sent (``requests``) and what it holds (``job``). No loop runs: nothing
reaps or prunes unless a test does it.
"""

from __future__ import annotations

import contextlib
import random
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

import grpc
import grpc.aio

from broker.app import build as graph
from broker.entities.job import Job
from broker.infra.clock import SystemClock
from broker.infra.pg.listen import LocalNotifier
from broker.infra.settings import Settings
from broker.interface.grpc.interceptors.base import Call
from broker.interface.grpc.server import Health, listen
from broker.interface.grpc.status import CallFailed
from tests.fakes import InMemoryJobStore


@dataclass(frozen=True)
class Fault:
    code: grpc.StatusCode
    lost_reply: bool  # the call is carried out, then its reply fails


class Script:
    """The outermost stage (it sees every call, also those on worker sessions): records each
    request and answers scripted faults (as CallFailed, the pipeline's one form of a status)."""

    def __init__(self) -> None:
        self.requests: dict[str, list[object]] = defaultdict(list)
        self.faults: dict[str, list[Fault]] = defaultdict(list)

    async def __call__(self, call: Call, proceed):
        name = call.method.rsplit("/", 1)[-1]
        self.requests[name].append(call.request)
        fault = self.faults[name].pop(0) if self.faults[name] else None
        if fault is not None and not fault.lost_reply:
            raise CallFailed(fault.code, f"scripted {fault.code.name}")
        response = await proceed(call)
        if fault is not None:
            raise CallFailed(fault.code, f"scripted {fault.code.name} (the call was carried out)")
        return response


class NoSessions(grpc.aio.ServerInterceptor):
    """A broker that predates worker sessions: WorkerSession is UNIMPLEMENTED."""

    async def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.endswith("/WorkerSession"):
            return None
        return await continuation(handler_call_details)


class NoSnooze(grpc.aio.ServerInterceptor):
    """A broker that predates Snooze: the RPC is UNIMPLEMENTED."""

    async def intercept_service(self, continuation, handler_call_details):
        if handler_call_details.method.endswith("/Snooze"):
            return None
        return await continuation(handler_call_details)


class MemoryBroker:
    def __init__(self, address: str, store: InMemoryJobStore, script: Script) -> None:
        self.address, self.store, self._script = address, store, script

    @property
    def requests(self) -> dict[str, list[object]]:
        """The requests each method was sent (by name: "Lease", "Ack", ...), in order."""
        return self._script.requests

    @property
    def jobs(self) -> dict[str, Job]:
        return self.store.jobs

    def job(self, job_id: str) -> Job:
        return self.store.jobs[job_id]

    def fail_next(self, method: str, code: grpc.StatusCode, times: int = 1, lost_reply: bool = False) -> None:
        self._script.faults[method].extend([Fault(code, lost_reply)] * times)

    def lose(self, job_id: str) -> None:
        """As if the lease lapsed and the job went to another worker: a lease token of its own."""
        job = self.store.jobs[job_id]
        self.store.jobs[job_id] = replace(job, lease_token=str(uuid.uuid4()), worker_id="someone-else")


@contextlib.asynccontextmanager
async def serving(sessions: bool = True, settings: Settings | None = None,
                  snooze: bool = True) -> AsyncIterator[MemoryBroker]:
    """A MemoryBroker on 127.0.0.1:<free port> for the duration of the block."""
    settings = settings or Settings()
    store, notifier, health, script = InMemoryJobStore(), LocalNotifier(), Health(), Script()
    use = graph.build(settings, store=store, clock=SystemClock(), notifier=notifier,
                      page_secret=b"sdk tests' page token secret", rng=random.Random(7))
    outer = ([] if sessions else [NoSessions()]) + ([] if snooze else [NoSnooze()]) + [script]
    server, _ = graph.grpc_server(settings, use, health, outer=outer)
    port = listen(server, "127.0.0.1:0")
    await server.start()
    await health.set(True)
    try:
        yield MemoryBroker(f"127.0.0.1:{port}", store, script)
    finally:
        health.begin_shutdown()  # worker sessions end, long polls return
        notifier.close()
        await server.stop(None)
