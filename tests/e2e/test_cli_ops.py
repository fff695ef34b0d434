"""`broker stats` and `broker dlq`, run as commands against the running broker over gRPC."""

from __future__ import annotations

import asyncio
import signal
import sys

import pytest

from broker.v1 import admin_service_pb2 as apb, job_pb2
from tests.e2e.observe import run_scenario


async def broker_cli(*args: str, target: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "broker.cli", *args, "--target", target,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


def rows(table: str) -> dict[str, dict[str, str]]:
    """A printed table as {first column: {header: cell}}."""
    header, *lines = table.strip().splitlines()
    names = header.split()
    return {line.split()[0]: dict(zip(names, line.split())) for line in lines}


async def test_stats_prints_the_stats_rpc_table(jobs, admin, clock, queue, broker_server):
    scenario = await run_scenario(jobs, admin, clock, queue)
    code, out, err = await broker_cli("stats", "--queue", queue, target=broker_server.grpc_address)
    assert code == 0, err
    row = rows(out)[queue]
    for state, value in scenario.states.items():
        assert row[state.upper()] == str(value), state
    assert (row["1M_OK"], row["1M_FAILED"], row["1H_FAILURE"]) == ("2", "4", "66.7%")
    assert row["OLDEST_READY"].startswith("5m")  # F: ready since 302 s and a little


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_stats_watch_refreshes_until_signalled(queue, jobs, broker_server, sig):
    # Started with SIGINT ignored, as every background job of a non-interactive shell is (e.g.
    # `setsid make test </dev/null &`): no KeyboardInterrupt ever comes, the command must still
    # stop on both signals.
    from tests.e2e.helpers import enqueue

    await enqueue(jobs, queue, 2)
    # Through `sh -c "trap '' INT; exec ..."` rather than a preexec_fn: a preexec_fn makes Python
    # fork without exec in this process, whose gRPC threads make the child's start a gamble
    # (it died once at fork with "Other threads are currently calling into gRPC").
    command = [sys.executable, "-m", "broker.cli", "stats", "--queue", queue, "--watch", "0.2",
               "--target", broker_server.grpc_address]
    process = await asyncio.create_subprocess_exec(
        "sh", "-c", "trap '' INT; exec \"$@\"", "sh", *command,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        tables = 0
        while tables < 2:
            line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
            assert line, "the command ended before refreshing"
            tables += line.startswith("QUEUE")
        process.send_signal(sig)
        _, err = await asyncio.wait_for(process.communicate(), 10)
        assert process.returncode == 0, err.decode()
        assert not err, err.decode()  # no traceback
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_dlq_list_show_redrive_purge(jobs, admin, clock, queue, broker_server):
    scenario = await run_scenario(jobs, admin, clock, queue)
    target = broker_server.grpc_address
    dead = scenario.ids["D"]

    code, out, err = await broker_cli("dlq", "list", "--queue", queue, target=target)
    assert code == 0, err
    listed = rows(out)
    assert list(listed) == [dead]
    assert listed[dead]["ATTEMPTS"] == "1/2" and out.rstrip().endswith("fatal-d")

    code, out, _ = await broker_cli("dlq", "show", dead, target=target)
    assert code == 0
    assert "attempt 1 at" in out and "fatal-d" in out
    # AT is two words, CHANGE three ("pending -> running"): REASON is the sixth.
    assert [line.split()[5] for line in out.split("timeline:")[1].strip().splitlines()[1:]] == [
        "enqueue", "lease", "nack"]

    code, out, _ = await broker_cli("dlq", "redrive", dead, target=target)
    assert (code, out.splitlines()) == (0, ["redriven: 1", dead])
    got = await admin.GetJob(apb.GetJobRequest(job_id=dead))
    assert got.job.state == job_pb2.JOB_STATE_PENDING

    # Kill it again, then purge the whole queue's dead letters (which asks for --yes).
    from tests.e2e.helpers import lease, nack

    await admin.CancelJob(apb.CancelJobRequest(job_id=scenario.ids["F"]))
    await admin.CancelJob(apb.CancelJobRequest(job_id=scenario.ids["G"]))
    [again] = await lease(jobs, queue, 1)
    assert again.job.id == dead
    await nack(jobs, again, error="still broken", permanent=True)
    code, _, err = await broker_cli("dlq", "purge", "--queue", queue, target=target)
    assert code == 2 and "--yes" in err
    code, out, _ = await broker_cli("dlq", "purge", "--queue", queue, "--yes", target=target)
    assert (code, out.strip()) == (0, "purged: 1")
    code, out, _ = await broker_cli("dlq", "list", "--queue", queue, target=target)
    assert out.strip() == "no dead jobs"


async def test_errors_go_to_stderr_with_the_status(broker_server):
    code, out, err = await broker_cli("dlq", "show", "nope", target=broker_server.grpc_address)
    assert (code, out) == (1, "")
    assert err.startswith("broker: INVALID_ARGUMENT: job_id")
