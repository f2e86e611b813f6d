"""Time-series buckets in a caller's time zone, computed in Python.

ClickHouse 18.16 has no WITH FILL, so the full list of buckets is built here
and the rows of the query are laid onto it, empty buckets getting zeros. A
bucket key is the one the SQL expression of the same interval returns: epoch
seconds of the bucket start for minute, hour and day, a date for week and
month.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

INTERVALS = ("minute", "hour", "day", "week", "month")
MAX_BUCKETS = 2000

# Upper bounds of each interval's length, to reject a huge range before listing it.
_SHORTEST = {
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
    "day": timedelta(hours=23),
    "week": timedelta(days=7) - timedelta(hours=1),
    "month": timedelta(days=28),
}


class TooManyBuckets(ValueError):
    def __init__(self, count: int):
        super().__init__(f"the range gives at least {count} buckets, more than the maximum of {MAX_BUCKETS}")
        self.count = count


def bucket_function(interval: str, zone_sql: str) -> Callable[[str], str]:
    """Return a builder of the SQL bucket expression of an interval; zone_sql is a quoted literal or parameter."""
    expressions = {
        "minute": "toUInt32(toStartOfMinute({column}, {zone}))",
        "hour": "toUInt32(toStartOfHour({column}, {zone}))",
        "day": "toUInt32(toStartOfDay({column}, {zone}))",
        "week": "toMonday({column}, {zone})",
        "month": "toStartOfMonth({column}, {zone})",
    }
    template = expressions[interval]
    return lambda column: template.format(column=column, zone=zone_sql)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _local_midnight(day: date, zone: ZoneInfo) -> int:
    return int(datetime.combine(day, time(0), tzinfo=zone).timestamp())


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def bucket_keys(start: datetime, end: datetime, interval: str, tz: str) -> list[int | date]:
    """List every bucket key from the bucket containing `start` up to `end` (exclusive). Naive means UTC."""
    start, end = _aware(start), _aware(end)
    estimate = int((end - start) / _SHORTEST[interval]) + 1
    if estimate > MAX_BUCKETS:
        raise TooManyBuckets(estimate)

    zone = ZoneInfo(tz)
    local_start = start.astimezone(zone)
    end_epoch = end.timestamp()
    keys: list[int | date] = []
    if interval in ("minute", "hour"):
        floor = local_start.replace(second=0, microsecond=0)
        if interval == "hour":
            floor = floor.replace(minute=0)
        step = 60 if interval == "minute" else 3600
        epoch = int(floor.timestamp())
        while epoch < end_epoch:
            keys.append(epoch)
            epoch += step
    elif interval == "day":
        day = local_start.date()
        while _local_midnight(day, zone) < end_epoch:
            keys.append(_local_midnight(day, zone))
            day += timedelta(days=1)
    else:
        day = local_start.date()
        day = day - timedelta(days=day.weekday()) if interval == "week" else day.replace(day=1)
        while _local_midnight(day, zone) < end_epoch:
            keys.append(day)
            day = day + timedelta(days=7) if interval == "week" else _next_month(day)
    return keys


def bucket_start_iso(key: int | date, tz: str) -> str:
    """Format the bucket start as ISO 8601 with the zone's offset at that moment."""
    zone = ZoneInfo(tz)
    if isinstance(key, date):
        return datetime.combine(key, time(0), tzinfo=zone).isoformat()
    return datetime.fromtimestamp(key, zone).isoformat()


def whole_hour_offsets(start: datetime, end: datetime, tz: str) -> bool:
    """Return whether the zone's UTC offset is a whole number of hours throughout [start, end].

    Hourly summaries start on UTC hours, so only such zones can use them for
    local hour, day, week and month buckets.
    """
    return _offsets_divisible(start, end, tz, 3600)


def zero_offset(start: datetime, end: datetime, tz: str) -> bool:
    """Return whether the zone is at UTC throughout [start, end], so UTC day summaries fit its days."""
    zone = ZoneInfo(tz)
    return all(offset == 0 for offset in _offsets(start, end, zone))


def _offsets(start: datetime, end: datetime, zone: ZoneInfo) -> list[int]:
    # Checking every 6 hours finds every offset change, as zones change at most twice a year.
    moment, end = _aware(start), _aware(end)
    offsets = []
    while moment <= end:
        offsets.append(int(moment.astimezone(zone).utcoffset().total_seconds()))
        moment += timedelta(hours=6)
    offsets.append(int(end.astimezone(zone).utcoffset().total_seconds()))
    return offsets


def _offsets_divisible(start: datetime, end: datetime, tz: str, seconds: int) -> bool:
    return all(offset % seconds == 0 for offset in _offsets(start, end, ZoneInfo(tz)))
