"""The serve step's background loops (reaper, pruner, breakers, scheduler, payloads, callbacks,
the observations' flush, health, listener), each on its interval, owned by one Runner."""

from __future__ import annotations

import asyncio
import logging

from broker.app import build as graph
from broker.entities.errors import Unavailable
from broker.infra.pg.listen import PgListener
from broker.infra.pg.store import PgJobStore
from broker.infra.runner import Loop, Runner
from broker.infra.settings import Settings
from broker.interface.grpc.server import Health
from broker.usecases.workers.flush import FlushObservations

log = logging.getLogger("broker")
REAP_BATCH, SCHEDULE_BATCH = graph.REAP_BATCH, graph.SCHEDULE_BATCH


def start_loops(settings: Settings, use: graph.UseCases, store: PgJobStore, health: Health,
                listener: PgListener) -> Runner:
    m, runner = settings.maintenance, Runner()
    runner.start("reaper", Loop("reaper", use.reaper.run_once, m.reaper_interval, lambda n: n >= REAP_BATCH).run())
    runner.start("pruner", Loop("pruner", use.pruner.run_once, m.prune_interval, use.pruner.full).run())
    # The breakers' cool-down ends within a reaper interval of its time.
    runner.start("breakers", Loop("breakers", use.breakers.run_once, m.reaper_interval).run())
    runner.start("scheduler", Loop("scheduler", use.scheduler.run_once, m.scheduler_interval,
                                   lambda n: n >= SCHEDULE_BATCH).run())
    if use.collector is not None:
        runner.start("payloads", Loop("payloads", use.collector.run_once, m.prune_interval, lambda n: n >= 500).run())
    if settings.callbacks.deliver:
        recheck = settings.server.long_poll_recheck  # the deliveries' own wait, woken by new ones
        runner.start("callbacks", Loop("callbacks", lambda: use.deliverer.run_once(wait=recheck), recheck,
                                       lambda _: True).run())
    if use.observations is not None:  # the workers this replica saw, its latency counts
        runner.start("observations", Loop("observations", use.observations.run_once,
                                          settings.workers.flush_interval).run())
    runner.start("health", Loop("health", _health_check(store, health), m.health_interval).run())
    runner.start("listener", listener.run())
    return runner


async def last_flush(flush: FlushObservations | None) -> None:
    """At stop, after the loops: the latency counts not yet written, and the long polls the
    shutdown ended (waiting no more). A database that is away loses them, with a warning."""
    if flush is None:
        return
    try:
        async with asyncio.timeout(2.0):
            await flush.run_once()
    except (Unavailable, TimeoutError) as exc:
        log.warning("observations: the last flush failed: %s", exc or "timed out")


def _health_check(store: PgJobStore, health: Health):
    async def run_once() -> None:
        try:
            async with asyncio.timeout(2.0):
                await store.ping()
            serving = True
        except (Unavailable, TimeoutError):
            serving = False
        if serving != health.serving:
            log.warning("database %s", "back: serving" if serving else "unreachable: not serving")
            await health.set(serving)
    return run_once
