"""``brokerctl``: run a worker from a module of handlers, or enqueue a job.

    brokerctl worker myapp.jobs --queue emails --concurrency 32 --target 127.0.0.1:50051
    brokerctl enqueue emails send_email '{"to": "ada@example.com"}'

``main(argv)`` is also what the server's ``broker worker ...`` / ``broker enqueue ...`` call.
Connection flags fall back to BROKER_TARGET and BROKER_TOKEN from the environment.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import threading
import time
from collections.abc import Sequence

from . import __version__
from .client import Client
from .discovery import find_worker
from .errors import BrokerClientError
from .options import ConnectionOptions, TlsOptions


def _connection_flags() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("connection")
    g.add_argument("--target", help="broker address host:port (env BROKER_TARGET, default 127.0.0.1:50051)")
    g.add_argument("--token", help="bearer token (env BROKER_TOKEN)")
    g.add_argument("--tls", action="store_true", help="use TLS with the system roots")
    g.add_argument("--tls-ca", metavar="PEM", help="root certificates (implies --tls)")
    g.add_argument("--tls-cert", metavar="PEM", help="client certificate chain for mTLS")
    g.add_argument("--tls-key", metavar="PEM", help="client private key for mTLS")
    g.add_argument("--timeout", type=float, default=10.0, help="deadline of each call, seconds")
    return p


def build_parser() -> argparse.ArgumentParser:
    conn = _connection_flags()
    parser = argparse.ArgumentParser(prog="brokerctl", description="Broker SDK command line.")
    version = f"brokerctl {__version__} (Python {platform.python_version()})"
    parser.add_argument("--version", action="version", version=version, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker", parents=[conn], help="run the handlers of a module")
    w.add_argument("module", help="module (or module:attribute) holding a Worker or Registry")
    w.add_argument("--queue", "-q", action="append", dest="queues", help="queue to lease from (repeatable)")
    w.add_argument("--concurrency", "-c", type=int, help="jobs running at once")
    w.add_argument("--lease-duration", type=float, help="seconds per lease (default: each job's)")
    w.add_argument("--poll-wait", type=float, help="long-poll wait of each Lease call, seconds")
    w.add_argument("--grace", type=float, dest="shutdown_grace", help="seconds running jobs get at shutdown")
    w.add_argument("--worker-id", help="name shown to operators")
    w.add_argument("--unary", action="store_true",
                   help="one RPC per call instead of a WorkerSession stream (e.g. behind a proxy that cuts streams)")
    w.add_argument("--log-level", default="INFO")
    e = sub.add_parser("enqueue", parents=[conn], help="enqueue one job, print its id")
    e.add_argument("queue")
    e.add_argument("kind")
    e.add_argument("payload", help="sent as UTF-8 bytes as given; '-' reads stdin")
    e.add_argument("--priority", type=int, default=0)
    e.add_argument("--delay", type=float, help="seconds from now")
    e.add_argument("--header", action="append", default=[], metavar="K=V")
    e.add_argument("--idempotency-key")
    e.add_argument("--max-attempts", type=int)
    e.add_argument("--lease-duration", type=float)
    for command in (w, e):
        command.add_argument("--version", action="version", version=version, help="print the version and exit")
    return parser


def connection_options(args: argparse.Namespace) -> ConnectionOptions:
    tls = None
    if args.tls or args.tls_ca or args.tls_cert:
        tls = TlsOptions.from_files(args.tls_ca, args.tls_cert, args.tls_key)
    return ConnectionOptions(target=args.target or os.environ.get("BROKER_TARGET") or "127.0.0.1:50051",
                             token=args.token or os.environ.get("BROKER_TOKEN") or None,
                             tls=tls, timeout=args.timeout)


def worker_settings(args: argparse.Namespace) -> dict:
    """The worker settings the flags change (None: keep the module's own)."""
    return {"queues": args.queues, "concurrency": args.concurrency, "lease_duration": args.lease_duration,
            "poll_wait": args.poll_wait, "shutdown_grace": args.shutdown_grace, "worker_id": args.worker_id,
            "session": False if args.unary else None}


def run_worker(args: argparse.Namespace) -> int:
    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    worker = find_worker(args.module).configured(**worker_settings(args))
    worker.run_sync(options=connection_options(args))
    code = 1 if worker.forced else 0
    stuck = [t.name for t in _live_threads(grace=1.0)]
    if stuck:
        # Sync handlers cannot be interrupted and the interpreter would wait for them at exit:
        # their jobs are already nacked, so leave now.
        logging.getLogger("broker_client.worker").warning("exiting with handlers still running: %s", stuck)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _live_threads(grace: float) -> list[threading.Thread]:
    """Non-daemon threads still running after giving idle pool threads ``grace`` s to exit."""
    deadline = time.monotonic() + grace
    others = [t for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    for t in others:
        t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in others if t.is_alive()]


def run_enqueue(args: argparse.Namespace) -> int:
    payload = sys.stdin.buffer.read() if args.payload == "-" else args.payload.encode()
    headers = dict(h.split("=", 1) for h in args.header)
    with Client(options=connection_options(args)) as client:
        result = client.enqueue(args.queue, args.kind, payload, priority=args.priority, delay=args.delay,
                                headers=headers, idempotency_key=args.idempotency_key,
                                max_attempts=args.max_attempts, lease_duration=args.lease_duration)
    print(json.dumps({"job_id": result.job_id, "created": result.created}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``brokerctl``; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        code = run_worker(args) if args.command == "worker" else run_enqueue(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # stdout's reader left (`| head`): quietly, as a SIGPIPE would
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except (BrokerClientError, LookupError, ValueError) as error:
        print(f"brokerctl: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
