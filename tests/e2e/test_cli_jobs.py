"""`broker jobs list|show|cancel|retry`, `-o json` on the listings (parsed back), and a reader
that closes stdout early (`broker jobs list | head`): no traceback."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

from broker.cli_output import EXIT_BROKEN_PIPE
from tests.e2e.helpers import enqueue
from tests.e2e.observe import run_scenario
from tests.e2e.test_cli_ops import broker_cli, rows


async def cli_json(*args: str, target: str):
    code, out, err = await broker_cli(*args, "-o", "json", target=target)
    assert code == 0, err
    return json.loads(out)


async def test_jobs_list_filters_by_queue_and_state_in_a_table_and_in_json(jobs, admin, clock, queue, broker_server):
    scenario = await run_scenario(jobs, admin, clock, queue)
    target = broker_server.grpc_address
    code, out, err = await broker_cli("jobs", "list", "--queue", queue, "--limit", "100", target=target)
    assert code == 0, err
    assert set(rows(out)) == set(scenario.ids.values())
    listed = await cli_json("jobs", "list", "--queue", queue, "--state", "dead", target=target)
    assert [j["id"] for j in listed["jobs"]] == [scenario.ids["D"]]
    assert listed["more"] is False
    dead = listed["jobs"][0]
    assert (dead["state"], dead["queue"], dead["attempt"]) == ("dead", queue, 1)
    assert dead["created_at"].endswith("+00:00") and dead["payload"] == "e30="  # b"{}" in base64


async def test_jobs_show_cancel_and_retry(jobs, admin, clock, queue, broker_server):
    scenario = await run_scenario(jobs, admin, clock, queue)
    target = broker_server.grpc_address
    shown = await cli_json("jobs", "show", scenario.ids["D"], target=target)
    assert shown["job"]["id"] == scenario.ids["D"]
    assert [e["reason"] for e in shown["events"]][:2] == ["enqueue", "lease"]

    code, out, err = await broker_cli("jobs", "cancel", scenario.ids["F"], target=target)
    assert (code, out.split()) == (0, [scenario.ids["F"], "cancelled"]), err
    code, _, err = await broker_cli("jobs", "cancel", scenario.ids["A"], target=target)  # succeeded already
    assert code == 1 and scenario.ids["A"] in err and "Traceback" not in err

    code, out, err = await broker_cli("jobs", "retry", scenario.ids["D"], target=target)
    assert code == 0, err
    assert out.splitlines() == ["retried: 1 of 1 (only DEAD jobs go back to pending)", scenario.ids["D"]]
    again = await cli_json("jobs", "show", scenario.ids["D"], target=target)
    assert again["job"]["state"] == "pending"


async def test_every_listing_speaks_json(jobs, admin, clock, queue, broker_server):
    await run_scenario(jobs, admin, clock, queue)
    target = broker_server.grpc_address
    stats = await cli_json("stats", "--queue", queue, target=target)
    assert [q["queue"] for q in stats["queues"]] == [queue] and stats["queues"][0]["dead"] == 1
    dlq = await cli_json("dlq", "list", "--queue", queue, target=target)
    assert len(dlq["jobs"]) == 1
    for args in (("queues", "limit", queue, "3"),
                 ("schedules", "create", queue, "--cron", "0 3 * * *", "--queue", queue, "--kind", "k",
                  "--payload", "{}")):
        code, _, err = await broker_cli(*args, target=target)
        assert code == 0, err
    queues = {q["queue"]: q for q in await cli_json("queues", "list", target=target)}
    assert queues[queue]["concurrency_limit"] == 3 and queues[queue]["paused"] is False
    schedules = {s["name"]: s for s in await cli_json("schedules", "list", target=target)}
    assert schedules[queue]["cron"] == "0 3 * * *" and schedules[queue]["next_fire_at"].endswith("+00:00")


def closed_pipe_run(*args: str) -> tuple[int, str]:
    """The command with its stdout's reader gone before it writes (as `| head` that has its
    lines): the exit status and what it said on stderr."""
    process = subprocess.Popen([sys.executable, "-m", "broker.cli", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    process.stdout.close()
    _, err = process.communicate(timeout=60)
    return process.returncode, err.decode()


async def test_a_closed_pipe_ends_the_command_quietly(jobs, queue, broker_server):
    await enqueue(jobs, queue, 3)
    target = broker_server.grpc_address
    for args in (("jobs", "list", "--queue", queue), ("jobs", "list", "--queue", queue, "-o", "json"),
                 ("stats", "--queue", queue), ("dlq", "list"), ("--version",)):
        code, err = await asyncio.to_thread(closed_pipe_run, *args,
                                            *(("--target", target) if args != ("--version",) else ()))
        assert "Traceback" not in err and "BrokenPipe" not in err, (args, err)
        if args != ("--version",):  # argparse's own --version exits 0 once it has tried
            assert code == EXIT_BROKEN_PIPE, (args, code, err)


async def test_brokerctl_ends_quietly_on_a_closed_pipe_too(queue, broker_server):
    def run() -> tuple[int, str]:
        process = subprocess.Popen([sys.executable, "-m", "broker_client", "enqueue", queue, "k", "{}",
                                    "--target", broker_server.grpc_address],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        process.stdout.close()
        _, err = process.communicate(timeout=60)
        return process.returncode, err.decode()

    code, err = await asyncio.to_thread(run)
    assert (code, "Traceback" in err) == (EXIT_BROKEN_PIPE, False), err
