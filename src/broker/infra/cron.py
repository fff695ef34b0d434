"""The cron expressions, read by croniter (the CronParser port). Only the wall-clock matching is
croniter's: zones and daylight saving are the schedule entity's (entities/schedule.py), on naive
local times here, so croniter's own DST handling never comes into play."""

from __future__ import annotations

from datetime import datetime

from croniter import CroniterError, croniter

from broker.entities.errors import InvalidArgument
from broker.entities.schedule import WallCron

ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_HELP = ("5 fields (minute hour day-of-month month day-of-week), 6 with a seconds field first, "
         f"or one of {', '.join(ALIASES)}")


class CroniterParser:
    """CronParser on croniter."""

    def parse(self, expression: str) -> WallCron:
        text = " ".join(expression.split())
        fields = len(text.split(" "))
        if text.startswith("@") and text.lower() not in ALIASES or not text.startswith("@") and fields not in (5, 6):
            raise InvalidArgument("cron", f"{expression[:80]!r}: expected {_HELP}")
        seconds_first = fields == 6
        try:
            croniter(text, datetime(2000, 1, 1), second_at_beginning=seconds_first)
        except (CroniterError, ValueError, KeyError) as exc:
            raise InvalidArgument("cron", f"{expression[:80]!r}: {exc}; expected {_HELP}") from None

        def next_after(wall: datetime) -> datetime:
            try:
                return croniter(text, wall, second_at_beginning=seconds_first).get_next(datetime)
            except (CroniterError, ValueError) as exc:  # e.g. 0 0 30 2 *: never a date
                raise InvalidArgument("cron", f"{expression[:80]!r} never fires ({exc})") from None
        return next_after
