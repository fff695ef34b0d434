"""The worker's lease loop overlaps leasing with running: slots freed while a Lease call is out
are asked for by a second call (at most `lease_calls` out at once), no slot is asked for twice,
and stopping waits for the calls in flight, whose jobs still run."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from broker_client.v1 import job_pb2, job_service_pb2 as pb
from broker_client.worker.execution import HandlerRunner
from broker_client.worker.pool import Pool
from broker_client.worker.stats import LeaseRefused
from broker_client.worker.registry import Registry
from broker_client.worker.settle import Settler


class Rpc:
    """Lease calls that come back when the test says, each with the jobs it gives."""

    worker_id, lease_duration = "w", 30.0

    def __init__(self) -> None:
        self.calls: list[tuple[int, asyncio.Future]] = []
        self.made = 0

    async def lease(self, max_jobs: int, wait: float):
        answer = asyncio.get_running_loop().create_future()
        self.calls.append((max_jobs, answer))
        return await answer

    def give(self, index: int, n: int):
        asked, answer = self.calls[index]
        assert n <= asked
        jobs = []
        for _ in range(n):
            self.made += 1
            jobs.append(pb.LeasedJob(job=job_pb2.Job(id=f"j{self.made}", kind="hold", queue="q"),
                                     lease_token="t", attempt=1))
        answer.set_result(jobs)

    def open(self) -> list[int]:
        return [asked for asked, answer in self.calls if not answer.done()]


class Held:
    """A handler that runs until the test releases the job."""

    def __init__(self) -> None:
        self.release: dict[str, asyncio.Event] = {}

    async def __call__(self, job) -> None:
        self.release[job.id] = asyncio.Event()
        await self.release[job.id].wait()


async def turn() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def pool_of(rpc: Rpc, concurrency: int, lease_calls: int = 2) -> tuple[Pool, Held]:
    held, registry = Held(), Registry()

    async def hold(job) -> None:
        await held(job)
    registry.handler("hold")(hold)

    async def sent(batch):
        return []
    settler = Settler(sent, sent)
    return Pool(rpc, registry, HandlerRunner(None, None, None), settler, concurrency=concurrency,
                poll_wait=10, lease_calls=lease_calls), held


async def test_slots_freed_while_a_call_is_out_are_asked_for_by_a_second_call():
    rpc = Rpc()
    pool, held = pool_of(rpc, concurrency=8)
    loop = asyncio.create_task(pool.lease_loop())
    await turn()
    assert rpc.open() == [8]  # one call for every slot
    rpc.give(0, 8)
    await turn()
    assert rpc.open() == [] and len(pool.held) == 8  # every slot runs: nothing to ask for
    for job in ("j1", "j2"):  # two finish: a quarter of the slots, so a call goes out for them
        held.release[job].set()
    await turn()
    assert rpc.open() == [2]
    for job in ("j3", "j4", "j5"):  # three more while that call is out: a second call for them
        held.release[job].set()
    await turn()
    assert rpc.open() == [2, 3]
    for job in ("j6", "j7", "j8"):  # two calls out already: the third waits
        held.release[job].set()
    await turn()
    assert rpc.open() == [2, 3]
    rpc.give(1, 1)  # the first call brings one job; its other slot and the three freed are asked for
    await turn()
    assert rpc.open() == [3, 4]
    assert len(pool.held) + sum(rpc.open()) == 8  # never a slot asked for twice
    pool.stop_leasing()
    rpc.give(2, 3)
    rpc.give(3, 4)
    await asyncio.wait_for(loop, 1)
    assert len(pool.held) == 8  # what the calls in flight brought still runs
    await pool.abort()


async def test_one_lease_call_at_a_time_when_asked():
    rpc = Rpc()
    pool, held = pool_of(rpc, concurrency=4, lease_calls=1)
    loop = asyncio.create_task(pool.lease_loop())
    await turn()
    rpc.give(0, 2)
    await turn()
    assert rpc.open() == [2]
    for job in ("j1", "j2"):
        held.release[job].set()
    await turn()
    assert rpc.open() == [2]  # freed slots wait for the call out to come back
    rpc.give(1, 0)
    await turn()
    assert rpc.open() == [4]
    pool.stop_leasing()
    rpc.give(2, 0)
    await asyncio.wait_for(loop, 1)


async def test_a_refused_lease_stops_the_loop_and_cancels_the_other_call():
    rpc = Rpc()
    pool, held = pool_of(rpc, concurrency=4)
    loop = asyncio.create_task(pool.lease_loop())
    await turn()
    rpc.give(0, 2)
    await turn()
    assert rpc.open() == [2]
    _, answer = rpc.calls[1]
    answer.set_exception(Refused())
    with pytest.raises(LeaseRefused, match="PERMISSION_DENIED"):
        await asyncio.wait_for(loop, 1)
    await pool.abort()


class Refused(grpc.RpcError):
    def code(self):
        return grpc.StatusCode.PERMISSION_DENIED

    def details(self):
        return "no"
