"""The dashboard's workers, health and latency settings: defaults, values, and bad ones stop
start-up naming the variable."""

from __future__ import annotations

import pytest

from broker.entities.health import HealthThresholds
from broker.infra import settings
from broker.infra.env import SettingsError


def test_defaults_are_the_contracts():
    w = settings.load({}).workers
    assert w.health == HealthThresholds(oldest_ready=300.0, failure_rate=0.25, min_attempts=20, seen_seconds=60.0)
    assert (w.flush_interval, w.waiting_seconds) == (2.0, 6.0)


def test_each_is_read():
    w = settings.load({"BROKER_WORKER_SEEN_SECONDS": "30", "BROKER_OBSERVE_FLUSH_INTERVAL": "0.5",
                       "BROKER_HEALTH_OLDEST_READY_SECONDS": "60", "BROKER_HEALTH_FAILURE_RATE": "0.1",
                       "BROKER_HEALTH_MIN_ATTEMPTS": "5"}).workers
    assert w.health == HealthThresholds(oldest_ready=60.0, failure_rate=0.1, min_attempts=5, seen_seconds=30.0)
    assert w.flush_interval == 0.5


@pytest.mark.parametrize("env, name", [
    ({"BROKER_OBSERVE_FLUSH_INTERVAL": "0"}, "BROKER_OBSERVE_FLUSH_INTERVAL"),
    ({"BROKER_OBSERVE_FLUSH_INTERVAL": "61"}, "BROKER_OBSERVE_FLUSH_INTERVAL"),
    ({"BROKER_OBSERVE_FLUSH_INTERVAL": "soon"}, "BROKER_OBSERVE_FLUSH_INTERVAL"),
    ({"BROKER_WORKER_SEEN_SECONDS": "2"}, "BROKER_WORKER_SEEN_SECONDS"),      # not more than the flush interval
    ({"BROKER_WORKER_SEEN_SECONDS": "-1"}, "BROKER_WORKER_SEEN_SECONDS"),
    ({"BROKER_HEALTH_FAILURE_RATE": "1.5"}, "BROKER_HEALTH_FAILURE_RATE"),
    ({"BROKER_HEALTH_OLDEST_READY_SECONDS": "-3"}, "BROKER_HEALTH_OLDEST_READY_SECONDS"),
    ({"BROKER_HEALTH_MIN_ATTEMPTS": "2.5"}, "BROKER_HEALTH_MIN_ATTEMPTS"),
])
def test_a_bad_value_names_its_variable(env, name):
    with pytest.raises(SettingsError, match=name):
        settings.load(env)
