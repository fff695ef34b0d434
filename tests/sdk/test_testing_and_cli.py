"""broker_client.testing, module discovery and the brokerctl command line."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import textwrap

import pytest

from broker.entities.job import JobState
from broker_client import PermanentError, Registry, Worker, cli
from broker_client.discovery import NoHandlersFound, find_worker
from broker_client.testing import InMemoryBroker, arun_job, run_job

from .helpers import eventually


async def test_arun_job_runs_a_handler_like_a_worker():
    async def greet(ctx):
        return f"hello {ctx.json()['name']} (attempt {ctx.attempt})"

    outcome = await arun_job(greet, {"name": "ada"}, attempt=2)
    assert outcome.ok and outcome.unwrap() == "hello ada (attempt 2)"


def test_run_job_classifies_failures_and_picks_handlers_from_a_worker():
    worker = Worker("q")

    @worker.handler("charge")
    def charge(ctx):
        if ctx.headers.get("card") == "stolen":
            raise PermanentError("card reported stolen")
        raise ConnectionError("bank unreachable")

    transient = run_job(worker, kind="charge")
    assert not transient.ok and not transient.permanent and "bank unreachable" in transient.error
    with pytest.raises(ConnectionError):
        transient.unwrap()
    assert run_job(worker, kind="charge", headers={"card": "stolen"}).permanent
    assert "ran longer than 0.01 s" in run_job(_slow, timeout=0.01).error


async def _slow(ctx):
    await asyncio.sleep(5)


def test_in_memory_broker_runs_retries_dead_letters_and_dedupes():
    broker, registry, seen = InMemoryBroker(), Registry(), []

    @registry.handler("flaky")
    def flaky(ctx):
        seen.append((ctx.id, ctx.attempt))
        if ctx.attempt < 2:
            raise RuntimeError("first try fails")
        broker.enqueue("q", "follow_up", {"after": ctx.id})

    @registry.handler("broken")
    def broken(ctx):
        raise RuntimeError("always")

    registry.handler("follow_up")(lambda ctx: "done")
    first = broker.enqueue("q", "flaky", {"n": 1}, idempotency_key="k1")
    again = broker.enqueue("q", "flaky", {"n": 1}, idempotency_key="k1")
    dead = broker.enqueue("q", "broken", max_attempts=2)
    assert again.job_id == first.job_id and not again.created and len(broker.jobs) == 2

    ran = broker.run_all(registry)
    assert len(ran) == 3 and not broker.pending()
    assert [a for _, a in seen] == [1, 2]
    [dead_job] = broker.by_state("dead")
    assert dead_job.id == dead.job_id and dead_job.attempts == 2 and len(dead_job.errors) == 2
    assert [j.result for j in broker.by_state("succeeded") if j.request.kind == "follow_up"] == ["done"]


MODULE = """
from broker_client import Registry, Worker

worker = Worker(["mail"], concurrency=3, poll_wait=1)
extra = Registry()

@worker.handler("send")
async def send(ctx):
    import asyncio
    await asyncio.sleep(float(ctx.json().get("sleep", 0)))

@extra.handler("other")
def other(ctx):
    return None

@extra.handler("block")
def block(ctx):
    import time
    time.sleep(120)
"""

CPU_MODULE = """
from broker_client import Worker

worker = Worker(["mail"], poll_wait=1, processes=2)

@worker.handler("crunch", cpu_bound=True)
def crunch(ctx):
    import pathlib, time
    pathlib.Path(ctx.json()["started"]).touch()
    time.sleep(float(ctx.json()["seconds"]))
"""


@pytest.fixture
def jobs_module(tmp_path, monkeypatch):
    (tmp_path / "myjobs.py").write_text(textwrap.dedent(MODULE))
    (tmp_path / "cpujobs.py").write_text(textwrap.dedent(CPU_MODULE))
    (tmp_path / "empty_mod.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_discovery_merges_module_level_workers_and_registries(jobs_module):
    worker = find_worker("myjobs")
    assert worker.registry.kinds == ["block", "other", "send"] and worker.settings.queues == ("mail",)
    assert find_worker("myjobs:worker").registry.kinds == ["send"]
    configured = find_worker("myjobs").configured(queues=["a", "b"], concurrency=None)
    assert configured.settings.queues == ("a", "b") and configured.settings.concurrency == 3
    with pytest.raises(NoHandlersFound):
        find_worker("empty_mod")


async def test_brokerctl_enqueue(memory_broker, capsys):
    argv = ["enqueue", "mail", "send", '{"to": "ada"}', "--target", memory_broker.address,
            "--header", "trace=abc", "--priority", "-1", "--idempotency-key", "once"]
    assert await asyncio.to_thread(cli.main, argv) == 0
    printed = json.loads(capsys.readouterr().out)
    job = memory_broker.job(printed["job_id"])
    assert printed["created"] and job.payload == b'{"to": "ada"}' and job.priority == -1
    assert job.headers == {"trace": "abc"} and job.idempotency_key == "once"


async def running_job(memory_broker, jobs_module, kind: str, payload: str, grace: float,
                      module: str = "myjobs", **popen):
    """One job enqueued with brokerctl, a `brokerctl worker` process running it, and a function
    that reads the job as the broker holds it now."""
    argv = ["enqueue", "mail", kind, payload, "--target", memory_broker.address]
    assert await asyncio.to_thread(cli.main, argv) == 0
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(jobs_module), *sys.path])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker_client", "worker", module, "--target", memory_broker.address,
        "--grace", str(grace), env=env, cwd=jobs_module, **popen)
    [job_id] = memory_broker.jobs
    await eventually(lambda: memory_broker.job(job_id).state == JobState.RUNNING, timeout=20)
    return proc, lambda: memory_broker.job(job_id)


async def test_brokerctl_worker_drains_on_sigterm_and_exits_0(memory_broker, jobs_module):
    proc, job = await running_job(memory_broker, jobs_module, "send", '{"sleep": 0.5}', grace=10)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert job().state == JobState.SUCCEEDED and job().attempt == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_a_signal_to_the_process_group_drains_a_worker_with_cpu_bound_handlers(
        memory_broker, jobs_module, sig):
    # A terminal sends Ctrl-C's SIGINT to the whole foreground process group (a service manager
    # may send SIGTERM so): to the worker and the processes of its pool. That is one signal
    # (drain), not several (stop now).
    started = jobs_module / "crunch-started"
    payload = json.dumps({"started": str(started), "seconds": 1.0})
    proc, job = await running_job(memory_broker, jobs_module, "crunch", payload, grace=20, module="cpujobs",
                                  start_new_session=True)
    await eventually(started.exists, timeout=20)
    os.killpg(proc.pid, sig)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert job().state == JobState.SUCCEEDED and job().attempt == 1 and not job().errors


async def test_a_stuck_sync_handler_does_not_keep_the_worker_process_alive(memory_broker, jobs_module):
    proc, job = await running_job(memory_broker, jobs_module, "block", "{}", grace=0.2)
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
    assert job().state == JobState.PENDING and "shut down" in job().last_error


async def test_a_second_sigterm_stops_at_once_and_nacks_for_redelivery(memory_broker, jobs_module):
    proc, job = await running_job(memory_broker, jobs_module, "send", '{"sleep": 120}', grace=600)
    proc.send_signal(signal.SIGTERM)
    await asyncio.sleep(0.2)
    assert proc.returncode is None  # draining: the job has 600 s
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 1
    assert job().state == JobState.PENDING and "shut down" in job().last_error


async def test_the_servers_broker_command_forwards_to_brokerctl(memory_broker, capsys):
    from broker import cli as server_cli

    argv = ["enqueue", "mail", "send", "{}", "--target", memory_broker.address]
    assert await asyncio.to_thread(server_cli.main, argv) == 0
    assert json.loads(capsys.readouterr().out)["job_id"] in memory_broker.jobs


def test_brokerctl_worker_flags_override_the_module_settings():
    from broker_client import Worker
    module_worker = Worker("mail", concurrency=3)
    given = cli.build_parser().parse_args(["worker", "myjobs", "--concurrency", "7", "--unary"])
    changed = module_worker.configured(**cli.worker_settings(given)).settings
    assert (changed.concurrency, changed.session, changed.queues) == (7, False, ("mail",))
    kept = module_worker.configured(**cli.worker_settings(cli.build_parser().parse_args(["worker", "myjobs"])))
    assert (kept.settings.concurrency, kept.settings.session) == (3, True)
