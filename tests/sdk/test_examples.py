"""The signup example: handlers with the testing helpers, the service with the in-memory
broker, and the whole app against the real broker."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.request

import pytest

from broker_client import Client
from broker_client.testing import InMemoryBroker, run_job
from examples.signup import jobs, service

from .helpers import eventually, running


@pytest.fixture
def output(tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "OUTPUT", tmp_path)
    monkeypatch.setattr(jobs.mailer, "directory", tmp_path / "outbox")
    return tmp_path


def test_welcome_email_is_sent_once_per_key(output):
    user = {"email": "ada@example.com", "name": "Ada"}
    assert run_job(jobs.send_welcome_email, user, idempotency_key="welcome:ada").unwrap() is True
    assert run_job(jobs.send_welcome_email, user, idempotency_key="welcome:ada", attempt=2).unwrap() is False
    [sent] = jobs.mailer.sent()
    assert "Subject: Welcome, Ada!" in sent.read_text()


def test_a_bad_address_goes_straight_to_the_dead_letter_queue(output):
    outcome = run_job(jobs.worker, {"email": "nobody"}, kind="send_welcome_email")
    assert outcome.permanent and "not an email address" in outcome.error


def post(port: int, body: dict) -> dict:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/signup", data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        return json.loads(response.read())


def test_service_enqueues_once_per_signup_and_the_worker_does_the_rest(output):
    broker = InMemoryBroker()
    server = service.make_server(broker, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        first = post(server.server_port, {"email": "ada@example.com", "name": "Ada"})
        again = post(server.server_port, {"email": "ada@example.com", "name": "Ada"})
    finally:
        server.shutdown()
    assert first["new"] and not again["new"] and first["jobs"] == again["jobs"]
    ran = broker.run_all(jobs.worker)
    assert sorted(j.request.kind for j in ran) == ["make_avatar", "send_welcome_email"]
    assert len(jobs.mailer.sent()) == 1 and len(list((output / "avatars").glob("*.svg"))) == 1


async def test_the_example_app_against_the_real_broker(broker_server, queue, output):
    worker = jobs.worker.configured(queues=[queue], lease_duration=2)

    def produce() -> None:
        with Client(broker_server.address) as client:
            renamed = _OnQueue(client, queue)
            service.signup(renamed, "grace@example.com", "Grace")
            service.signup(renamed, "grace@example.com", "Grace")  # a double submit

    await asyncio.to_thread(produce)
    async with running(worker, broker_server.address):
        await eventually(lambda: worker.stats.succeeded == 2, timeout=30)
    assert len(jobs.mailer.sent()) == 1 and len(list((output / "avatars").glob("*.svg"))) == 1


class _OnQueue:
    """Sends the example's jobs to this test's own queue."""

    def __init__(self, client: Client, queue: str) -> None:
        self._client, self._queue = client, queue

    def enqueue_batch(self, jobs_):
        from dataclasses import replace
        return self._client.enqueue_batch([replace(j, queue=self._queue) for j in jobs_])
