"""BROKER_SCHEDULES_FILE: TOML read into definitions; a bad file names the entry and field."""

from __future__ import annotations

import pytest

from broker.entities.retry import Jitter
from broker.entities.schedule import JobTemplate, MissedFires, ScheduleDefinition
from broker.infra import schedule_file
from broker.infra.env import SettingsError

GOOD = '''
[[schedules]]
name = "nightly-report"
cron = "30 2 * * *"
time_zone = "Europe/Berlin"
missed = "catch_up"
catch_up_limit = 3
[schedules.job]
queue = "reports"
kind = "nightly"
payload = '{"report": "daily"}'
headers = { source = "cron" }
priority = -1
max_attempts = 4
lease_duration = 120
retry = { initial_delay = 5, max_delay = 600.0, jitter = "none" }

[[schedules]]
name = "heartbeat"
cron = "@hourly"
job = { queue = "ops", kind = "ping" }
'''


def write(tmp_path, text: str) -> str:
    path = tmp_path / "schedules.toml"
    path.write_text(text)
    return str(path)


def test_a_file_reads_into_definitions(tmp_path):
    nightly, heartbeat = schedule_file.read(write(tmp_path, GOOD))
    assert nightly == ScheduleDefinition(
        "nightly-report", "30 2 * * *",
        JobTemplate("reports", "nightly", b'{"report": "daily"}', {"source": "cron"}, -1, 4, 5.0, 600.0, None,
                    Jitter.NONE, 120.0),
        "Europe/Berlin", MissedFires.CATCH_UP, 3)
    assert heartbeat == ScheduleDefinition("heartbeat", "@hourly", JobTemplate("ops", "ping"))


@pytest.mark.parametrize("text, where", [
    ("[[schedules]]\nname = 'x'\ncron = '@daily'\n", "schedules[0].job: is required"),
    ("[[schedules]]\nname = 'x'\ncron = 5\njob = {queue='q', kind='k'}\n", "schedules[0].cron: must be text"),
    ("[[schedules]]\nname = 'x'\ncron = '@daily'\nmissed = 'later'\njob = {queue='q', kind='k'}\n",
     "schedules[0].missed"),
    ("[[schedules]]\nname = 'x'\ncron = '@daily'\nwhen = 1\njob = {queue='q', kind='k'}\n",
     "schedules[0].when: unknown key"),
    ("[[schedules]]\nname = 'x'\ncron = '@daily'\njob = {queue='q', kind='k', retry={jitter='big'}}\n",
     "schedules[0].job.retry.jitter"),
    ("schedules = 3\n", "schedules: must be an array"),
    ("[[schedules]\n", "not valid TOML"),
])
def test_bad_files_stop_start_up_naming_the_setting_and_field(tmp_path, text, where):
    with pytest.raises(SettingsError) as caught:
        schedule_file.read(write(tmp_path, text))
    assert str(caught.value).startswith("BROKER_SCHEDULES_FILE=") and where in str(caught.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(SettingsError, match="BROKER_SCHEDULES_FILE=.*cannot read it"):
        schedule_file.read(str(tmp_path / "nope.toml"))
