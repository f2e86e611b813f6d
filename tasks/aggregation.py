"""Tasks of the `aggregation` queue: keep the analytics summary tables filled and compact.

Beat runs refresh every minute, compact hourly and rollup_days nightly
(celeryconfig.beat_schedule); POST /api/v1/admin/aggregations/refresh runs
rebuild_range. Each task rewrites whole periods under a new generation, so a
redelivered or repeated task gives the same tables.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from storage import clients
from storage.analytics import locks, refresh as summaries
from storage.analytics.periods import floor_day
from tasks.celery_app import app

logger = logging.getLogger(__name__)

# The lock outlives the longest task, so only an expired holder loses it.
REFRESH_LOCK_SECONDS = 1900


def _parse(moment: str) -> datetime:
    """Parse an ISO 8601 string (the form the API enqueues) into naive UTC."""
    parsed = datetime.fromisoformat(moment)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


@app.task(name="aggregation.refresh", soft_time_limit=600, time_limit=660)
def refresh() -> dict:
    """Summarize the hours closed since the last run and rebuild hours that late events changed."""
    with locks.exclusive("refresh", REFRESH_LOCK_SECONDS) as acquired:
        if not acquired:
            logger.info("analytics_refresh_skipped reason=running")
            return {"skipped": True}
        report = summaries.refresh(clients.clickhouse(clients.TASK), tag="aggregation.refresh")
    return report.as_dict()


@app.task(name="aggregation.rebuild_range", soft_time_limit=1800, time_limit=1860)
def rebuild_range(start: str, end: str) -> dict:
    """Rebuild the summaries of every hour touching [start, end) and of its complete UTC days."""
    with locks.exclusive("refresh", REFRESH_LOCK_SECONDS) as acquired:
        if not acquired:
            # A retry later finds the lock free; the range is rebuilt then.
            raise rebuild_range.retry(countdown=30, max_retries=60)
        report = summaries.rebuild_range(
            clients.clickhouse(clients.TASK), _parse(start), _parse(end), tag="aggregation.rebuild_range"
        )
    logger.info("analytics_range_rebuilt start=%s end=%s hours=%d", start, end, len(report.new_hours))
    return report.as_dict()


@app.task(name="aggregation.rollup_days", soft_time_limit=1800, time_limit=1860)
def rollup_days(days_back: int = 7) -> dict:
    """Roll the complete UTC days of the last `days_back` days not yet rolled up into day periods."""
    client = clients.clickhouse(clients.TASK)
    end = floor_day(datetime.utcnow())
    with locks.exclusive("refresh", REFRESH_LOCK_SECONDS) as acquired:
        if not acquired:
            raise rollup_days.retry(countdown=60, max_retries=30)
        done = summaries.rollup_days(client, end - timedelta(days=days_back), end, only_missing=True,
                                     tag="aggregation.rollup_days")
    return {"days": [day.date().isoformat() for day in done]}


@app.task(name="aggregation.compact", soft_time_limit=600, time_limit=660)
def compact() -> dict:
    """Delete superseded generations from the summary tables and merge their parts."""
    return summaries.compact(clients.clickhouse(clients.TASK), tag="aggregation.compact")
