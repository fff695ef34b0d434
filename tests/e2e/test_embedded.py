"""A newcomer's first hour with the embedded PostgreSQL: its directory does not depend on the
current directory, so `broker keys` run from elsewhere reaches the running broker's database and
says which one it uses; no command leaves a stray server behind; `broker embedded reset` starts
it afresh; start-up logs hold the broker's own JSON lines (no initdb output) and the dashboard URL."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import pathlib
import subprocess
import sys

import pytest

from tests.support import BrokerProcess, free_port

pytestmark = pytest.mark.slow
SRC = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def newcomer():
    """A home of its own (the default data directory is under it) and two working directories.
    Not under pytest's tmp_path: its root is 0700, and as root pgserver runs the server as
    another user, who must reach the data directory."""
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="broker-newcomer-"))
    os.chmod(tmp_path, 0o755)
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "BROKER_DATA_DIR", "XDG_DATA_HOME")}
    env.update(HOME=str(home), PYTHONPATH=f"{SRC / 'src'}{os.pathsep}{SRC / 'clients' / 'python' / 'src'}")
    dirs = [tmp_path / "project", tmp_path / "elsewhere"]
    for d in dirs:
        d.mkdir()
    yield env, home / ".local" / "share" / "broker", dirs
    broker(env, dirs[0], "embedded", "stop")  # a test that failed may have left one running
    shutil.rmtree(tmp_path, ignore_errors=True)


def broker(env, cwd, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "broker.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def embedded_status(env, cwd) -> dict:
    done = broker(env, cwd, "embedded", "status", "-o", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_commands_from_any_directory_share_the_running_brokers_database(newcomer):
    env, data_dir, (project, elsewhere) = newcomer
    grpc_port, http_port = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "broker.cli", "serve", "--grpc-addr", f"127.0.0.1:{grpc_port}",
         "--http-addr", f"127.0.0.1:{http_port}"], cwd=project, env={**env, "BROKER_LOG_LEVEL": "info"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    served = BrokerProcess(process, grpc_port, http_port, "")
    try:
        try:
            served.wait_healthy(timeout=90)
        except RuntimeError:
            raise AssertionError(process.communicate(timeout=30)[1]) from None
        made = broker(env, elsewhere, "keys", "create", "--name", "ops", "--role", "admin")
        assert made.returncode == 0, made.stderr
        assert f"the embedded PostgreSQL in {data_dir}" in made.stderr and "already running" in made.stderr
        listed = broker(env, elsewhere, "keys", "list", "-o", "json")
        assert [k["name"] for k in json.loads(listed.stdout)] == ["ops"]
        assert embedded_status(env, elsewhere)["data_dir"] == str(data_dir)
    finally:
        assert served.stop() == 0
        _, err = process.communicate(timeout=30)
    assert not list(project.iterdir()) and not list(elsewhere.iterdir())  # nothing in the working dirs
    lines = [json.loads(line) for line in err.splitlines()]  # every line is the broker's JSON
    assert not [line for line in lines if "initdb" in json.dumps(line) or line.get("logger") == "pgserver"]
    [serving] = [line for line in lines if line.get("dashboard")]
    assert serving["dashboard"] == f"http://127.0.0.1:{http_port}/"
    assert f"dashboard at http://127.0.0.1:{http_port}/" in serving["msg"]
    assert embedded_status(env, elsewhere)["running"] is False  # serve stopped the server it started


def test_a_one_off_command_stops_the_server_it_started_and_reset_starts_afresh(newcomer):
    env, data_dir, (project, elsewhere) = newcomer
    made = broker(env, project, "keys", "create", "--name", "first", "--role", "worker")
    assert made.returncode == 0, made.stderr
    assert "started for this process" in made.stderr
    status = embedded_status(env, elsewhere)
    assert (status["data_dir"], status["initialised"], status["running"]) == (str(data_dir), True, False)

    refused = broker(env, elsewhere, "embedded", "reset")
    assert refused.returncode == 2 and "--yes" in refused.stderr
    done = broker(env, elsewhere, "embedded", "reset", "--yes")
    assert done.returncode == 0, done.stderr
    assert embedded_status(env, project)["initialised"] is False
    listed = broker(env, project, "keys", "list", "-o", "json")
    assert json.loads(listed.stdout) == []  # the key went with the data
    assert embedded_status(env, project)["running"] is False


def test_a_holder_killed_with_sigkill_does_not_keep_the_server_running_forever(newcomer):
    pytest.importorskip("pgserver")
    env, data_dir, (project, _) = newcomer
    data_dir.mkdir(parents=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, pgserver; pgserver.get_server(sys.argv[1], cleanup_mode='stop'); "
                               "print('up', flush=True); time.sleep(120)", str(data_dir / "pgserver")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "up", holder.stderr.read()
    finally:
        holder.kill()  # dies holding the server: its pid stays in pgserver's list
        holder.wait()
    assert embedded_status(env, project)["running"] is True
    listed = broker(env, project, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    assert "started for this process" in listed.stderr  # nobody alive holds it
    assert embedded_status(env, project)["running"] is False
