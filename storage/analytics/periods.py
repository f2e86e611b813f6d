"""The choice of summary periods and raw ranges that serve a time range.

A period is an hour or a UTC day recorded in analytics_periods with its
newest generation. A read takes whole days where it can, then whole hours,
and computes the rest (partial edge hours, hours not yet summarized) from
the raw events. All datetimes here are naive UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.analytics.sources import Range
from storage.analytics.tables import PERIODS_TABLE

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
HOUR_PERIOD = 1
DAY_PERIOD = 24

# (period_hours, period_start) -> the newest generation
Registry = Mapping[tuple[int, datetime], int]


@dataclass
class Plan:
    """The summary periods (hours, start, generation) and the raw ranges that make up a read."""

    periods: list[tuple[int, datetime, int]] = field(default_factory=list)
    raw_ranges: list[Range] = field(default_factory=list)

    def add_raw(self, start: datetime, end: datetime) -> None:
        if self.raw_ranges and self.raw_ranges[-1][1] == start:
            self.raw_ranges[-1] = (self.raw_ranges[-1][0], end)
        else:
            self.raw_ranges.append((start, end))


def naive_utc(moment: datetime) -> datetime:
    """Naive UTC; the driver attaches the server's zone to some DateTime results."""
    if moment.tzinfo is None:
        return moment
    return (moment - moment.utcoffset()).replace(tzinfo=None)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def hours_between(start: datetime, end: datetime) -> list[datetime]:
    """Return the hour starts h with start <= h < end, start being hour-aligned."""
    hours = []
    moment = start
    while moment < end:
        hours.append(moment)
        moment += HOUR
    return hours


def registry_sql() -> str:
    return f"""
        SELECT period_hours, period_start, max(generation)
        FROM {PERIODS_TABLE}
        WHERE period_start >= toDateTime(%(start)s) AND period_start < toDateTime(%(end)s)
        GROUP BY period_hours, period_start"""


def registry_bounds(start: datetime, end: datetime) -> dict[str, datetime]:
    """Return the bounds of the registry rows that can serve [start, end), as day periods begin at a UTC midnight."""
    return {"start": floor_day(start), "end": end}


def plan_range(registry: Registry, start: datetime, end: datetime, *, hours: bool = True, days: bool = True) -> Plan:
    """Cover [start, end) with whole summarized days, then hours, then raw ranges."""
    plan = Plan()
    moment = start
    while moment < end:
        day_generation = registry.get((DAY_PERIOD, moment))
        if days and day_generation is not None and moment == floor_day(moment) and moment + DAY <= end:
            plan.periods.append((DAY_PERIOD, moment, day_generation))
            moment += DAY
            continue

        hour_generation = registry.get((HOUR_PERIOD, moment))
        if hours and hour_generation is not None and moment == floor_hour(moment) and moment + HOUR <= end:
            plan.periods.append((HOUR_PERIOD, moment, hour_generation))
            moment += HOUR
            continue

        next_moment = min(floor_hour(moment) + HOUR, end)
        plan.add_raw(moment, next_moment)
        moment = next_moment
    return plan


def raw_plan(start: datetime, end: datetime) -> Plan:
    """Return the plan of the all-raw reference computation."""
    return Plan(periods=[], raw_ranges=[(start, end)] if start < end else [])
