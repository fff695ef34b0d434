"""Fire times: cron aliases and the seconds field (read by croniter), time zones with both
daylight-saving changes, and the policies for missed fires after downtime."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from broker.entities.errors import InvalidArgument
from broker.entities.schedule import MissedFires, due, fire_key, fires_between, next_fire, zone
from broker.infra.cron import CroniterParser

UTC = timezone.utc
BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
cron = CroniterParser().parse


def local(times, tz) -> list[str]:
    return [t.astimezone(tz).strftime("%m-%d %H:%M:%S%z") for t in times]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize("alias, first, second", [
    ("@hourly", utc(2030, 1, 1, 1), utc(2030, 1, 1, 2)),
    ("@daily", utc(2030, 1, 2), utc(2030, 1, 3)),
    ("@midnight", utc(2030, 1, 2), utc(2030, 1, 3)),
    ("@weekly", utc(2030, 1, 6), utc(2030, 1, 13)),  # Sundays
    ("@monthly", utc(2030, 2, 1), utc(2030, 3, 1)),
    ("@yearly", utc(2031, 1, 1), utc(2032, 1, 1)),
])
def test_aliases(alias, first, second):
    times, _ = fires_between(cron(alias), zone("UTC"), utc(2030, 1, 1), second)
    assert times == [first, second]


def test_a_sixth_field_is_seconds_first():
    times, count = fires_between(cron("*/20 * * * * *"), zone("UTC"), utc(2030, 1, 1), utc(2030, 1, 1, 0, 1))
    assert count == 3 and times == [utc(2030, 1, 1, 0, 0, 20), utc(2030, 1, 1, 0, 0, 40), utc(2030, 1, 1, 0, 1)]


@pytest.mark.parametrize("expression", ["bad", "* * * *", "1 2 3 4 5 6 7", "61 * * * *", "@often", "0 0 30 2 *", ""])
def test_bad_expressions_name_the_cron_field(expression):
    with pytest.raises(InvalidArgument) as caught:
        next_fire(cron(expression), zone("UTC"), utc(2030, 1, 1))
    assert caught.value.field == "cron"


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "../etc/passwd", "UTC+1"])
def test_unknown_zones_name_the_time_zone_field(name):
    with pytest.raises(InvalidArgument) as caught:
        zone(name)
    assert caught.value.field == "time_zone"


def test_cron_reads_local_time_in_its_zone():
    assert next_fire(cron("0 9 * * *"), BERLIN, utc(2030, 1, 1)) == utc(2030, 1, 1, 8)  # CET, +01:00
    assert next_fire(cron("0 9 * * *"), BERLIN, utc(2030, 7, 1)) == utc(2030, 7, 1, 7)  # CEST, +02:00


def test_spring_forward_skips_the_time_that_does_not_exist():
    # Berlin, 2025-03-30: 02:00 CET becomes 03:00 CEST; 02:30 does not happen that day.
    times, _ = fires_between(cron("30 2 * * *"), BERLIN, utc(2025, 3, 28), utc(2025, 4, 1))
    assert local(times, BERLIN) == ["03-28 02:30:00+0100", "03-29 02:30:00+0100", "03-31 02:30:00+0200"]
    times, _ = fires_between(cron("*/30 * * * *"), NEW_YORK, utc(2025, 3, 9, 6), utc(2025, 3, 9, 8))
    assert local(times, NEW_YORK) == ["03-09 01:30:00-0500", "03-09 03:00:00-0400", "03-09 03:30:00-0400",
                                      "03-09 04:00:00-0400"]


def test_fall_back_fires_a_repeated_time_once():
    # Berlin, 2025-10-26: 03:00 CEST becomes 02:00 CET; 02:00-02:59 happen twice.
    times, _ = fires_between(cron("30 2 * * *"), BERLIN, utc(2025, 10, 25), utc(2025, 10, 28))
    assert local(times, BERLIN) == ["10-25 02:30:00+0200", "10-26 02:30:00+0200", "10-27 02:30:00+0100"]
    times, _ = fires_between(cron("0 * * * *"), BERLIN, utc(2025, 10, 25, 23), utc(2025, 10, 26, 3))
    # 02:00 CET (01:00 UTC) is the repeat of 02:00 CEST: not fired again.
    assert local(times, BERLIN) == ["10-26 02:00:00+0200", "10-26 03:00:00+0100", "10-26 04:00:00+0100"]


def test_next_fire_from_inside_the_repeated_hour_is_after_it():
    second_pass = datetime(2025, 10, 26, 2, 10, fold=1, tzinfo=BERLIN)  # 01:10 UTC
    assert local([next_fire(cron("30 2 * * *"), BERLIN, second_pass)], BERLIN) == ["10-27 02:30:00+0100"]
    assert next_fire(cron("*/20 * * * *"), BERLIN, second_pass) == utc(2025, 10, 26, 2)  # 03:00 CET


EVERY_MINUTE = cron("* * * * *")
T = utc(2030, 5, 1, 12)


def test_on_time_fires_fire_whatever_the_policy():
    for policy in MissedFires:
        d = due(EVERY_MINUTE, zone("UTC"), T, T + timedelta(seconds=1.5), policy, 3 if policy is MissedFires.CATCH_UP else 0)
        assert d.fires == (T,) and d.next_fire_at == T + timedelta(minutes=1)


def test_nothing_is_due_before_the_next_fire_time():
    assert due(EVERY_MINUTE, zone("UTC"), T, T - timedelta(seconds=1), MissedFires.RUN_ONCE).fires == ()


def test_after_downtime_skip_fires_nothing_missed():
    now = T + timedelta(hours=5, seconds=30)
    d = due(EVERY_MINUTE, zone("UTC"), T, now, MissedFires.SKIP)
    assert d.fires == (T + timedelta(hours=5),)  # 30 s late: on time; the 300 before it are dropped
    assert d.next_fire_at == T + timedelta(hours=5, minutes=1)
    assert due(cron("@hourly"), zone("UTC"), T, T + timedelta(hours=5, minutes=2), MissedFires.SKIP).fires == ()


def test_after_downtime_run_once_fires_one_job_for_all_missed():
    d = due(cron("@hourly"), zone("UTC"), T, T + timedelta(hours=5, minutes=2), MissedFires.RUN_ONCE)
    assert d.fires == (T + timedelta(hours=5),)  # keyed by the latest missed fire time
    assert d.next_fire_at == T + timedelta(hours=6)


def test_after_downtime_catch_up_fires_the_latest_n_each_its_own_job():
    d = due(cron("@hourly"), zone("UTC"), T, T + timedelta(days=400, minutes=2), MissedFires.CATCH_UP, 3)
    assert d.fires == tuple(T + timedelta(days=400) - timedelta(hours=h) for h in (2, 1, 0))
    d = due(cron("@hourly"), zone("UTC"), T, T + timedelta(hours=1, minutes=2), MissedFires.CATCH_UP, 5)
    assert d.fires == (T, T + timedelta(hours=1))  # fewer missed than the limit: all of them


def test_fire_keys_are_the_schedule_and_the_fire_time_in_utc():
    at = datetime(2030, 1, 1, 9, tzinfo=BERLIN)
    assert fire_key("nightly", at) == "schedule:nightly:2030-01-01T08:00:00+00:00"
