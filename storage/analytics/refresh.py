"""Filling, refreshing and compacting the summary tables.

A refresh writes every rollup table for a set of hours under one new
generation, then records those hours in analytics_periods. Readers switch to
the new generation only then. Writing a period again is harmless, so every
function here can be retried.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from storage.analytics.periods import (
    DAY, DAY_PERIOD, HOUR, HOUR_PERIOD, floor_day, floor_hour, hours_between, naive_utc,
)
from storage.analytics.sources import CLICK_WINDOW, CONVERSION_WINDOW, Params
from storage.analytics.tables import PERIODS_TABLE, REFRESH_RUNS_TABLE, ROLLUPS, Rollup
from storage.clickhouse import ClickHouse

logger = logging.getLogger(__name__)

# An hour is summarized once it has been closed this long, so events of its
# last seconds that are still in the ingestion buffer are in the raw table.
CLOSE_DELAY = timedelta(minutes=5)
# A refresh summarizes at most this many new hours, so one run stays short;
# the next run continues where it stopped.
MAX_NEW_HOURS_PER_RUN = 7 * 24
# Late rows are looked for from the previous run's start minus this margin,
# because a row's received_at is set before the batch holding it is inserted.
RECEIVED_MARGIN = timedelta(minutes=10)

TASK_LIMITS = {"max_execution_time": 600, "max_memory_usage": 4_000_000_000, "max_rows_to_read": 2_000_000_000}


@dataclass
class RefreshReport:
    new_hours: list[datetime] = field(default_factory=list)
    late_hours: list[datetime] = field(default_factory=list)
    days: list[datetime] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "new_hours": len(self.new_hours),
            "late_hours": len(self.late_hours),
            "days": [day.date().isoformat() for day in self.days],
        }


def new_generation() -> int:
    """Return a generation number larger than every earlier one from this clock."""
    return time.time_ns() // 1000


def _hour_bucket(column: str) -> str:
    return f"toStartOfHour({column})"


def _insert_hours(client: ClickHouse, rollup: Rollup, start: datetime, end: datetime, generation: int, tag: str) -> None:
    params = Params()
    select = rollup.from_raw([(start, end)], params, _hour_bucket)
    values = ", ".join(rollup.key_names + rollup.metric_names)
    sql = f"""
        INSERT INTO {rollup.name} ({', '.join(rollup.columns)})
        SELECT toUInt8({HOUR_PERIOD}), bucket, toUInt64({generation}), {values}
        FROM ({select})"""
    client.execute(sql, params, tag=tag, settings=TASK_LIMITS)


def _register(client: ClickHouse, hours: int, starts: Iterable[datetime], generation: int, tag: str) -> None:
    now = datetime.utcnow().replace(microsecond=0)
    rows = [(hours, start, generation, now) for start in starts]
    client.insert(PERIODS_TABLE, ("period_hours", "period_start", "generation", "refreshed_at"), rows, tag=tag)


def rebuild_hours(client: ClickHouse, start: datetime, end: datetime, *, tag: str) -> list[datetime]:
    """Summarize the hours of [start, end) again from the raw events, a UTC day per step."""
    start, end = floor_hour(start), floor_hour(end - timedelta(microseconds=1)) + HOUR
    rebuilt = []
    chunk_start = start
    while chunk_start < end:
        chunk_end = min(floor_day(chunk_start) + DAY, end)
        generation = new_generation()
        for rollup in ROLLUPS:
            _insert_hours(client, rollup, chunk_start, chunk_end, generation, tag)
        hours = hours_between(chunk_start, chunk_end)
        _register(client, HOUR_PERIOD, hours, generation, tag)
        rebuilt.extend(hours)
        chunk_start = chunk_end
    logger.info("analytics_hours_rebuilt start=%s end=%s hours=%d", start.isoformat(), end.isoformat(), len(rebuilt))
    return rebuilt


def current_generations(client: ClickHouse, hours: int, start: datetime, end: datetime, *, tag: str) -> dict[datetime, int]:
    rows = client.execute(
        f"""SELECT period_start, max(generation) FROM {PERIODS_TABLE}
            WHERE period_hours = %(hours)s AND period_start >= toDateTime(%(start)s)
                AND period_start < toDateTime(%(end)s)
            GROUP BY period_start""",
        {"hours": hours, "start": start, "end": end}, tag=tag,
    )
    return {naive_utc(start): generation for start, generation in rows}


def rollup_day(client: ClickHouse, day: datetime, *, tag: str) -> bool:
    """Sum a UTC day's 24 hourly periods into a day period; False when an hour is missing."""
    day = floor_day(day)
    hourly = current_generations(client, HOUR_PERIOD, day, day + DAY, tag=tag)
    if len(hourly) < 24:
        return False

    generation = new_generation()
    periods = tuple((HOUR_PERIOD, start, hourly[start]) for start in sorted(hourly))
    for rollup in ROLLUPS:
        keys = ", ".join(rollup.key_names)
        sums = ", ".join(f"sum({name})" for name in rollup.metric_names)
        group_by = f"GROUP BY {keys}" if keys else ""
        client.execute(
            f"""INSERT INTO {rollup.name} ({', '.join(rollup.columns)})
                SELECT toUInt8({DAY_PERIOD}), toDateTime(%(day)s), toUInt64({generation}), {keys}{', ' if keys else ''}{sums}
                FROM {rollup.name}
                WHERE period_hours = {HOUR_PERIOD} AND period_start >= toDateTime(%(day)s)
                    AND period_start < toDateTime(%(end)s)
                    AND (period_hours, period_start, generation) IN %(periods)s
                {group_by}""",
            {"day": day, "end": day + DAY, "periods": periods}, tag=tag, settings=TASK_LIMITS,
        )
    _register(client, DAY_PERIOD, [day], generation, tag)
    logger.info("analytics_day_rolled_up day=%s generation=%d", day.date().isoformat(), generation)
    return True


def rollup_days(client: ClickHouse, start: datetime, end: datetime, *, only_missing: bool, tag: str) -> list[datetime]:
    """Roll up each complete UTC day in [start, end); with only_missing, skip days already rolled up."""
    existing = current_generations(client, DAY_PERIOD, floor_day(start), end, tag=tag) if only_missing else {}
    done = []
    day = floor_day(start)
    while day + DAY <= end:
        if day not in existing and rollup_day(client, day, tag=tag):
            done.append(day)
        day += DAY
    return done


def late_hours(client: ClickHouse, since: datetime, before: datetime, *, tag: str) -> list[datetime]:
    """Summarized hours (before `before`) whose figures rows received since `since` can change.

    A row changes its own hour, and through its session or query_id the
    hours of searches and conversions it can be joined with: those up to
    48 hours (click window plus conversion window) before it.
    """
    fresh = "received_at >= toDateTime(%(since)s)"
    bounds = client.execute(
        f"""SELECT min(moment), max(moment), count() FROM
            (
                SELECT timestamp AS moment FROM search_events WHERE {fresh}
                UNION ALL
                SELECT timestamp AS moment FROM events WHERE {fresh}
            )""",
        {"since": since}, tag=tag, settings=TASK_LIMITS,
    )[0]
    if not bounds[2]:
        return []

    reach = CLICK_WINDOW + CONVERSION_WINDOW
    first, last = naive_utc(bounds[0]), naive_utc(bounds[1])
    params = {"since": since, "first": first, "last": last + timedelta(seconds=1),
              "lo": first - reach, "hi": min(last + reach, before)}
    fresh += " AND timestamp >= toDateTime(%(first)s) AND timestamp < toDateTime(%(last)s)"
    sessions = f"""
        SELECT session_id FROM search_events WHERE {fresh} AND session_id != ''
        UNION ALL
        SELECT session_id FROM events WHERE {fresh} AND session_id != ''"""
    query_ids = f"SELECT query_id FROM events WHERE {fresh} AND query_id != ''"
    window = "timestamp >= toDateTime(%(lo)s) AND timestamp < toDateTime(%(hi)s)"
    rows = client.execute(
        f"""SELECT DISTINCT hour FROM
            (
                SELECT toStartOfHour(timestamp) AS hour FROM search_events
                WHERE {window} AND (received_at >= toDateTime(%(since)s) OR session_id IN ({sessions})
                    OR query_id IN ({query_ids}))
                UNION ALL
                SELECT toStartOfHour(timestamp) AS hour FROM events
                WHERE {window} AND (received_at >= toDateTime(%(since)s) OR session_id IN ({sessions}))
            )
            ORDER BY hour""",
        params, tag=tag, settings=TASK_LIMITS,
    )
    return [naive_utc(row[0]) for row in rows]


def _contiguous(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    ranges: list[tuple[datetime, datetime]] = []
    for hour in sorted(set(hours)):
        if ranges and ranges[-1][1] == hour:
            ranges[-1] = (ranges[-1][0], hour + HOUR)
        else:
            ranges.append((hour, hour + HOUR))
    return ranges


def _first_unsummarized_hour(client: ClickHouse, *, tag: str) -> datetime | None:
    last = client.execute(f"SELECT max(period_start), count() FROM {PERIODS_TABLE} WHERE period_hours = 1", tag=tag)[0]
    if last[1]:
        return naive_utc(last[0]) + HOUR
    earliest = client.execute(
        """SELECT min(first) FROM
           (SELECT min(timestamp) AS first FROM search_events UNION ALL SELECT min(timestamp) AS first FROM events)
           WHERE first > toDateTime(0)""",
        tag=tag,
    )[0][0]
    if earliest is None or earliest.year < 2000:
        return None
    return floor_hour(naive_utc(earliest))


def refresh(client: ClickHouse, *, tag: str) -> RefreshReport:
    """Summarize newly closed hours and rebuild summarized hours that late rows changed."""
    started_at = naive_utc(client.execute("SELECT now()", tag=tag)[0][0])
    report = RefreshReport()
    previous = client.execute(f"SELECT max(started_at), count() FROM {REFRESH_RUNS_TABLE}", tag=tag)[0]

    first_new = _first_unsummarized_hour(client, tag=tag)
    closed_end = floor_hour(started_at - CLOSE_DELAY)
    if first_new is not None and first_new < closed_end:
        end = min(closed_end, first_new + MAX_NEW_HOURS_PER_RUN * HOUR)
        report.new_hours = rebuild_hours(client, first_new, end, tag=tag)

    if previous[1] and first_new is not None:
        since = naive_utc(previous[0]) - RECEIVED_MARGIN
        report.late_hours = late_hours(client, since, first_new, tag=tag)
        for start, end in _contiguous(report.late_hours):
            rebuild_hours(client, start, end, tag=tag)

    # A day already rolled up is rolled up again when one of its hours changed.
    touched_days = sorted({floor_day(hour) for hour in report.late_hours})
    if touched_days:
        rolled = current_generations(client, DAY_PERIOD, touched_days[0], touched_days[-1] + DAY, tag=tag)
        report.days = [day for day in touched_days if day in rolled and rollup_day(client, day, tag=tag)]

    finished_at = datetime.utcnow().replace(microsecond=0)
    periods = len(report.new_hours) + len(report.late_hours)
    client.insert(REFRESH_RUNS_TABLE, ("started_at", "finished_at", "periods_rebuilt"),
                  [(started_at, finished_at, periods)], tag=tag)
    logger.info("analytics_refreshed new_hours=%d late_hours=%d days=%d",
                len(report.new_hours), len(report.late_hours), len(report.days))
    return report


def rebuild_range(client: ClickHouse, start: datetime, end: datetime, *, tag: str) -> RefreshReport:
    """Rebuild every hour touching [start, end), then the complete UTC days among them."""
    report = RefreshReport()
    report.new_hours = rebuild_hours(client, start, end, tag=tag)
    if report.new_hours:
        report.days = rollup_days(client, report.new_hours[0], report.new_hours[-1] + HOUR, only_missing=False, tag=tag)
    return report


def compact(client: ClickHouse, *, tag: str) -> dict[str, int]:
    """Delete rows of generations older than each period's newest, then merge parts."""
    current = {
        (hours, start): generation
        for hours, start, generation in client.execute(
            f"SELECT period_hours, period_start, max(generation) FROM {PERIODS_TABLE} GROUP BY period_hours, period_start",
            tag=tag,
        )
    }
    deleted = {}
    for rollup in ROLLUPS:
        present = client.execute(
            f"SELECT DISTINCT period_hours, period_start, generation FROM {rollup.name}", tag=tag, settings=TASK_LIMITS
        )
        # Generations newer than the registered one belong to a refresh still writing.
        stale = [row for row in present if row[2] < current.get((row[0], row[1]), 0)]
        for offset in range(0, len(stale), 1000):
            client.execute(
                f"ALTER TABLE {rollup.name} DELETE WHERE (period_hours, period_start, generation) IN %(stale)s",
                {"stale": tuple(stale[offset:offset + 1000])}, tag=tag,
            )
        client.execute(f"OPTIMIZE TABLE {rollup.name}", tag=tag, settings=TASK_LIMITS)
        deleted[rollup.name] = len(stale)
    client.execute(f"OPTIMIZE TABLE {PERIODS_TABLE} FINAL", tag=tag, settings=TASK_LIMITS)
    logger.info("analytics_compacted stale_periods=%d", sum(deleted.values()))
    return deleted
