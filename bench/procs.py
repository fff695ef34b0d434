"""Child processes of the bench: the broker, and workers that connect, say `ready`, and start
working when told `go` (so start-up never counts), with their CPU time and peak RSS."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_DIR = tempfile.mkdtemp(prefix="bench-logs-")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU of one process (not its children), from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mb(pid: int) -> float | None:
    """The process's high-water mark of resident memory (VmHWM), in MiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Child:
    """A subprocess speaking the bench's line protocol on stdin/stdout."""

    def __init__(self, name: str, args: Sequence[str], env: dict | None = None) -> None:
        self.name = name
        self.log_path = os.path.join(LOG_DIR, f"{name}-{time.monotonic_ns()}.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                list(args), cwd=ROOT, env={**os.environ, **(env or {})}, stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=log, text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @classmethod
    def python(cls, name: str, module: str, *args: str, env: dict | None = None) -> Child:
        return cls(name, [sys.executable, "-m", module, *args], env)

    @property
    def pid(self) -> int:
        return self.process.pid

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, word: str, timeout: float = 30.0) -> str:
        """Wait for a line starting with `word`; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"{self.name}: no '{word}' within {timeout:g} s; log {self.log_path}") from None
            if line is None:
                raise RuntimeError(f"{self.name} exited ({self.process.wait()}) before '{word}'; "
                                   f"log {self.log_path}:\n{self.tail()}")
            if line.startswith(word):
                return line

    def send(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def output(self) -> list[str]:
        """Every line printed so far (after the ones `expect` consumed)."""
        out = []
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                return out
            if line is not None:
                out.append(line)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.pid)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def tail(self, n: int = 20) -> str:
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


class BrokerChild:
    """`broker serve` in its own process on free loopback ports, as tests/support.py starts it."""

    def __init__(self, database_url: str, env: dict | None = None) -> None:
        self.grpc_port, self.http_port = free_port(), free_port()
        self.address = f"127.0.0.1:{self.grpc_port}"
        environment = {"DATABASE_URL": database_url, **(env or {})}
        self.child = Child("broker", [sys.executable, "-m", "broker.cli", "serve", "--grpc-addr", self.address,
                                      "--http-addr", f"127.0.0.1:{self.http_port}"], environment)

    @property
    def pid(self) -> int:
        return self.child.pid

    def wait_healthy(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.child.process.poll() is not None:
                raise RuntimeError(f"broker exited with {self.child.process.returncode}:\n{self.child.tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise TimeoutError("broker did not become healthy")

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def peak_rss_mb(self) -> float | None:
        return peak_rss_mb(self.pid)

    def stop(self) -> int:
        return self.child.stop()


def start_all(children: Sequence[Child], timeout: float = 60.0) -> None:
    """Wait until every child said `ready`."""
    for child in children:
        child.expect("ready", timeout)


def go(children: Sequence[Child]) -> float:
    """Release every child at once; returns the monotonic time of the release."""
    t = time.monotonic()
    for child in children:
        child.send("go")
    return t


def stop_all(children: Sequence[Child], sig: int = signal.SIGTERM) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(sig)
    for child in children:
        child.stop(sig)


def kill(child: Child) -> None:
    os.kill(child.pid, signal.SIGKILL)
    child.process.wait()
