"""The four fault scenarios. Each runs on a fresh database of the private PostgreSQL: brokers,
SDK worker processes and a paced producer, the fault in the middle of the drain, then a bounded
wait for the backlog to drain and the accounts (faults/ledger.py)."""

from __future__ import annotations

import asyncio
import random
import time

import asyncpg

from faults import ledger
from faults.procs import Broker, WorkerProcess
from faults.producer import Producer, target


async def start_postgres(pg) -> None:
    pg.spawn()  # from the event loop's thread: the server's parent-death signal follows it
    await asyncio.to_thread(pg.wait_ready)

QUEUE = "faults"


class Drill:
    """One scenario's processes and producer; `finish` stops them and does the accounts."""

    def __init__(self, run, name: str, replicas: int = 1, broker_env: dict | None = None, channels: int = 1) -> None:
        self.run, self.name, self.profile = run, name, run.profile
        self._replicas, self._broker_env, self._channels = replicas, broker_env or {}, channels
        self.brokers: list[Broker] = []
        self.workers: list[WorkerProcess] = []
        self._ready: list[asyncio.Future] = []
        self.faults: list[dict] = []
        self.produced_until = 0.0

    async def start(self) -> None:
        self.database_url = await self.run.pg.create_database(self.name.replace("-", "_"))
        env = {"BROKER_REAPER_INTERVAL": "1", **self._broker_env}
        self.brokers = [Broker(self.run.children, f"{self.name}-broker-{i + 1}", self.database_url,
                               self.run.log_dir, env) for i in range(self._replicas)]
        for broker in self.brokers:
            broker.start()
        await asyncio.gather(*(asyncio.to_thread(b.wait_healthy) for b in self.brokers))
        self.addresses = [b.address for b in self.brokers]
        self.producer = Producer(self.addresses, QUEUE, self.name, channels=self._channels)
        for _ in range(self.profile.workers):
            self.add_worker()
        await asyncio.gather(*self._ready)

    def add_worker(self) -> WorkerProcess:
        """Start one more worker process (from this thread; its start-up is awaited by `start`
        and `finish`)."""
        p = self.profile
        worker = WorkerProcess(self.run.children, f"{self.name}-w{len(self.workers) + 1}", target(self.addresses),
                               QUEUE, self.run.log_dir, p.concurrency, p.lease, p.work_ms)
        self.workers.append(worker)
        self._ready.append(asyncio.ensure_future(asyncio.to_thread(worker.wait_ready)))
        return worker

    def produce(self) -> None:
        """Start the paced producer; `produced` stops it."""
        p = self.profile
        self._stop_producing = asyncio.Event()
        self._producing = asyncio.create_task(self.producer.paced(p.rate, p.batch, self._stop_producing,
                                                                  max_seconds=3 * p.seconds + 60))

    async def produced(self, more: float) -> None:
        """Go on producing `more` seconds, then stop and wait for the last calls."""
        await asyncio.sleep(more)
        self._stop_producing.set()
        self.produced_until = time.time()
        await self._producing

    async def drain(self) -> bool:
        """Wait (bounded) until no job of the queue is pending or running."""
        deadline = time.monotonic() + self.profile.drain_timeout
        while time.monotonic() < deadline:
            try:
                conn = await asyncpg.connect(self.database_url, timeout=5)
                try:
                    left = await conn.fetchval(
                        "SELECT count(*) FROM broker_jobs WHERE queue = $1 AND state IN ('pending', 'running')", QUEUE)
                finally:
                    await conn.close()
            except (OSError, asyncpg.PostgresError, TimeoutError):
                left = None
            if left == 0:
                return True
            await asyncio.sleep(0.25)
        return False

    async def finish(self, description: str, started: float) -> dict:
        drained = await self.drain()
        await asyncio.gather(*self._ready, return_exceptions=True)
        await asyncio.gather(*(asyncio.to_thread(w.stop) for w in self.workers if w.alive()))
        records = ledger.Records()
        for worker in self.workers:
            records.read(worker.record_path)
        await self.producer.close()
        until = max([self.produced_until] + [f.get("ended_at", f["at"]) for f in self.faults])
        result = await ledger.account(self.database_url, QUEUE, self.producer, records, self.faults, until)
        await asyncio.gather(*(asyncio.to_thread(b.stop) for b in self.brokers))
        result.update(scenario=self.name, description=description, drained=drained,
                      duration_s=round(time.monotonic() - started, 1), faults=self.faults,
                      worker_processes=len(self.workers), replicas=len(self.brokers))
        result["passed"] = passed(result)
        return result


def passed(r: dict) -> bool:
    """Nothing lost, every duplicate explained, no bad code, and the harness saw what it counts
    (a success without an execution record, or workers whose calls went uncounted, is a harness
    fault)."""
    return (r["drained"] and r["lost"] == 0 and r["duplicates_unexplained"] == 0 and r["bad_codes"] == 0
            and r["succeeded_without_record"] == 0 and r["acknowledged_with_wrong_id"] == 0
            and (r["worker_calls_counted"] > 0 or r["executions"] == 0))


async def worker_kills(run) -> dict:
    """kill -9 of a random worker process at even intervals while jobs drain; a replacement
    starts after each kill (as a supervisor would)."""
    started, p = time.monotonic(), run.profile
    drill = Drill(run, "worker-kills")
    await drill.start()
    drill.produce()
    interval = p.seconds / (p.kills + 1)
    rng = random.Random(1)
    for _ in range(p.kills):
        await asyncio.sleep(interval)
        victim = rng.choice([w for w in drill.workers if w.alive()])
        drill.faults.append({"what": f"kill -9 {victim.worker_id}", "at": victim.kill9(),
                             "worker_id": victim.worker_id})
        drill.add_worker()
    await drill.produced(interval)
    return await drill.finish(f"{p.kills} x kill -9 of one of {p.workers} worker processes (c={p.concurrency}, "
                              f"{p.lease:g} s leases), {p.rate:g} jobs/s offered", started)


async def broker_kill(run) -> dict:
    """Two replicas behind one round-robin target; one is killed with -9 a third of the way
    through and restarted on the same port."""
    started, p = time.monotonic(), run.profile
    drill = Drill(run, "broker-kill", replicas=2)
    await drill.start()
    drill.produce()
    await asyncio.sleep(p.seconds / 3)
    victim = drill.brokers[0]
    at = victim.kill9()
    await asyncio.sleep(p.broker_down)
    victim.start()
    healthy = await asyncio.to_thread(victim.wait_healthy)
    drill.faults.append({"what": f"kill -9 {victim.name}, restarted after {p.broker_down:g} s", "at": at,
                         "ended_at": healthy})
    await drill.produced(p.seconds / 2)
    return await drill.finish(f"2 replicas, kill -9 of one and its restart {p.broker_down:g} s later; "
                              f"{p.workers} workers (c={p.concurrency}, {p.lease:g} s leases)", started)


async def postgres_stop(run) -> dict:
    """`pg_ctl stop -m fast` a third of the way through, `pg_ctl start` after the outage."""
    started, p = time.monotonic(), run.profile
    drill = Drill(run, "postgres-stop")
    await drill.start()
    drill.produce()
    await asyncio.sleep(p.seconds / 3)
    at = time.time()
    await asyncio.to_thread(run.pg.stop, "fast")
    await asyncio.sleep(p.outage)
    await start_postgres(run.pg)
    drill.faults.append({"what": f"PostgreSQL stopped (fast) for {p.outage:g} s", "at": at, "ended_at": time.time(),
                         "outage": True})
    await drill.produced(p.seconds / 2)
    return await drill.finish(f"pg_ctl stop -m fast, {p.outage:g} s down, pg_ctl start; 1 broker, "
                              f"{p.workers} workers (c={p.concurrency}, {p.lease:g} s leases)", started)


async def burst(run) -> dict:
    """A burst of concurrent unary Enqueue calls far beyond the broker's in-flight bound; each
    retried as its answer asks (RetryInfo) until acknowledged."""
    started, p = time.monotonic(), run.profile
    drill = Drill(run, "burst", broker_env={"BROKER_MAX_IN_FLIGHT": str(p.in_flight)}, channels=4)
    await drill.start()
    at = time.time()
    await drill.producer.burst(p.burst)
    drill.faults.append({"what": f"{p.burst} concurrent Enqueue calls", "at": at, "ended_at": time.time()})
    return await drill.finish(f"{p.burst} concurrent unary Enqueue calls, BROKER_MAX_IN_FLIGHT={p.in_flight}; "
                              f"{p.workers} workers draining", started)


SCENARIOS = {"worker-kills": worker_kills, "broker-kill": broker_kill, "postgres-stop": postgres_stop,
             "burst": burst}
