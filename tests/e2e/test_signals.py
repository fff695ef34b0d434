"""`broker serve` and signals: one Ctrl-C delivered twice (terminal and parent) still shuts down
gracefully."""

import signal

import pytest

from tests.support import spawn_broker

pytestmark = pytest.mark.slow


def test_a_signal_echoed_at_once_still_shuts_down_gracefully(own_database):
    with spawn_broker(own_database, env={"BROKER_SHUTDOWN_GRACE": "3"}) as broker:
        broker.process.send_signal(signal.SIGINT)
        broker.process.send_signal(signal.SIGINT)
        assert broker.process.wait(20) == 0
    with open(broker.log_path) as log:
        text = log.read()
    assert "broker stopped" in text and "stopping now" not in text

