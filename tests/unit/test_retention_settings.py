"""The retention settings: the event log's partitions are a quarter of the retention by default,
at most an hour and at least a second; the pruner looks every 10 s; a bad value stops start-up
naming the variable."""

from __future__ import annotations

import pytest

from broker.infra import settings
from broker.infra.env import SettingsError


def maintenance(**env) -> settings.MaintenanceSettings:
    return settings.load(env).maintenance


def test_defaults():
    m = maintenance()
    assert (m.retention, m.events_partition, m.prune_interval) == (86400.0, 3600.0, 10.0)


def test_the_partition_follows_a_short_retention():
    assert maintenance(BROKER_RETENTION="60").events_partition == 15.0
    assert maintenance(BROKER_RETENTION="2").events_partition == 1.0
    assert maintenance(BROKER_RETENTION="60", BROKER_EVENTS_PARTITION="30").events_partition == 30.0


@pytest.mark.parametrize("value", ["0", "0.5", "-3", "soon"])
def test_a_bad_partition_width_names_the_variable(value):
    with pytest.raises(SettingsError, match="BROKER_EVENTS_PARTITION"):
        maintenance(BROKER_EVENTS_PARTITION=value)
