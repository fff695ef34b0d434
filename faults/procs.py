"""The scenarios' child processes: `broker serve` replicas and SDK worker processes, each in a
session of its own (a Ctrl-C reaches the harness only, which then stops them all), every one
remembered in a registry so that nothing outlives the run."""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from faults.postgres import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# Where util-linux's setpriv is (Linux), children get SIGKILL when the harness dies, even by
# SIGKILL (the parent-death signal; the harness starts them from its main thread, which lives as
# long as the harness).
SETPRIV = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


class Children:
    """Every process the run started; `kill_all` ends the ones still running (by pid)."""

    def __init__(self) -> None:
        self._all: list[subprocess.Popen] = []

    def popen(self, args: list[str], env: dict, log_path: str, **kw) -> subprocess.Popen:
        with open(log_path, "ab") as log:
            process = subprocess.Popen(SETPRIV + args, cwd=ROOT, env={**os.environ, **env}, stderr=log,
                                       start_new_session=True, **kw)
        self._all.append(process)
        return process

    def kill_all(self) -> None:
        for process in self._all:
            if process.poll() is None:
                process.kill()
        for process in self._all:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                pass


def stop(process: subprocess.Popen, timeout: float = 15.0) -> int:
    """SIGTERM, then SIGKILL after `timeout`."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def kill9(process: subprocess.Popen) -> float:
    """SIGKILL; returns the time (time.time()) it was sent."""
    at = time.time()
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return at


class Broker:
    """`broker serve` on fixed loopback ports (a restart reuses them, as a replica behind a load
    balancer would)."""

    def __init__(self, children: Children, name: str, database_url: str, log_dir: str, env: dict) -> None:
        self.children, self.name = children, name
        self.grpc_port, self.http_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.grpc_port}"
        self.log_path = os.path.join(log_dir, f"{name}.log")
        self.env = {"DATABASE_URL": database_url, "BROKER_LOG_LEVEL": "WARNING", "BROKER_ACCESS_LOG": "false",
                    "BROKER_DASHBOARD": "false", **env}
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = self.children.popen(
            [sys.executable, "-m", "broker.cli", "serve", "--grpc-addr", self.address,
             "--http-addr", f"127.0.0.1:{self.http_port}"], self.env, self.log_path)

    def wait_healthy(self, timeout: float = 30.0) -> float:
        """Block until /healthz answers 200; returns that time (time.time())."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail(self.log_path)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return time.time()
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError(f"{self.name} did not become healthy within {timeout:g} s:\n{tail(self.log_path)}")

    def kill9(self) -> float:
        return kill9(self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)


class WorkerProcess:
    """One `python -m faults.worker` (the SDK's worker pool) with its own record file."""

    def __init__(self, children: Children, worker_id: str, target: str, queue: str, log_dir: str,
                 concurrency: int, lease: float, work_ms: float) -> None:
        self.worker_id = worker_id
        self.record_path = os.path.join(log_dir, f"{worker_id}.records")
        self.log_path = os.path.join(log_dir, f"{worker_id}.log")
        self.process = children.popen(
            [sys.executable, "-m", "faults.worker", "--target", target, "--queue", queue,
             "--record", self.record_path, "--worker-id", worker_id, "--concurrency", str(concurrency),
             "--lease-duration", str(lease), "--work-ms", str(work_ms)],
            {"PYTHONUNBUFFERED": "1"}, self.log_path, stdout=subprocess.PIPE, text=True)

    def wait_ready(self, timeout: float = 30.0) -> None:
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        line = self.process.stdout.readline() if ready else ""  # it prints nothing before `ready`
        if not line.startswith("ready"):
            self.process.kill()
            self.process.wait(timeout)
            raise RuntimeError(f"worker {self.worker_id} exited ({self.process.returncode}) before ready:\n"
                               f"{tail(self.log_path)}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill9(self) -> float:
        return kill9(self.process)

    def stop(self) -> None:
        stop(self.process, timeout=10)


def tail(path: str, n: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""
