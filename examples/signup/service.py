"""The signup example's producer: a tiny HTTP service that enqueues follow-up work.

    BROKER_TARGET=127.0.0.1:50051 python -m examples.signup.service   # listens on :8000
    curl -d '{"email": "ada@example.com", "name": "Ada"}' localhost:8000/signup
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Protocol

from broker_client import BrokerClientError, Client, EnqueueResult, JobRequest


class Producer(Protocol):
    """What the service needs: ``Client`` in production, ``InMemoryBroker`` in tests."""

    def enqueue_batch(self, jobs: list[JobRequest]) -> list[EnqueueResult]: ...


def signup(producer: Producer, email: str, name: str) -> list[EnqueueResult]:
    """Enqueue a signup's follow-up jobs. Keys derived from the email make a double submit
    (or a client retry) enqueue nothing new."""
    user = {"email": email, "name": name}
    return producer.enqueue_batch([
        JobRequest("signup", "send_welcome_email", user, idempotency_key=f"welcome:{email}"),
        JobRequest("signup", "make_avatar", user, idempotency_key=f"avatar:{email}", priority=5),
    ])


def make_server(producer: Producer, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            if self.path != "/signup":
                return self._reply(404, {"error": "not found"})
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                results = signup(producer, body["email"], body.get("name", ""))
            except (ValueError, KeyError) as exc:
                return self._reply(400, {"error": f"bad request: {exc}"})
            except BrokerClientError as exc:
                return self._reply(503, {"error": str(exc)})
            self._reply(202, {"jobs": [r.job_id for r in results], "new": any(r.created for r in results)})

        def _reply(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    with Client(os.environ.get("BROKER_TARGET", "127.0.0.1:50051"), token=os.environ.get("BROKER_TOKEN")) as client:
        server = make_server(client, port=int(os.environ.get("PORT", "8000")))
        print(f"signup service on http://127.0.0.1:{server.server_port}/signup")
        server.serve_forever()


if __name__ == "__main__":
    main()
