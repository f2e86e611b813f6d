"""The streamed export of raw searches with their filters, totals and clicks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from storage.analytics.periods import DAY, floor_day
from storage.analytics.sources import CLICK_LOOKBACK, CLICK_WINDOW, Params
from storage.clickhouse import ClickHouse

LOG_COLUMNS = (
    "query_id", "timestamp", "query", "normalized_query", "filters", "sort", "page", "page_size",
    "total", "took_ms", "session_id", "user_id", "clicks", "clicked_positions", "clicked_product_ids",
)

LOG_LIMITS = {"max_execution_time": 60, "max_memory_usage": 1_000_000_000, "max_rows_to_read": 500_000_000}


def _day_sql(start: datetime, end: datetime, query: str | None, params: Params) -> str:
    condition = f"timestamp >= {params.add(start)} AND timestamp < {params.add(end)}"
    if query is not None:
        condition += f" AND normalized_query = {params.add(query)}"
    click_from, click_to = params.add(start - CLICK_LOOKBACK), params.add(end + CLICK_WINDOW)
    return f"""
        SELECT query_id, timestamp, timestamp_ms, query, normalized_query, filters, sort, page, page_size,
            total, took_ms, session_id, user_id, clicks, clicked_positions, clicked_product_ids
        FROM
        (
            SELECT query_id, timestamp, timestamp_ms, event_id, query, normalized_query, filters, sort, page,
                page_size, total, took_ms, session_id, user_id
            FROM search_events
            WHERE {condition}
        )
        ANY LEFT JOIN
        (
            SELECT query_id, count() AS clicks, groupArray(position) AS clicked_positions,
                groupArray(product_id) AS clicked_product_ids
            FROM
            (
                SELECT query_id, position, product_id
                FROM events
                WHERE event_type = 'click' AND timestamp >= {click_from} AND timestamp < {click_to}
                    AND query_id IN (SELECT query_id FROM search_events WHERE {condition})
                ORDER BY timestamp, event_id
            )
            GROUP BY query_id
        ) USING query_id
        ORDER BY timestamp_ms, query_id, page, event_id"""


def iter_search_log(client: ClickHouse, start: datetime, end: datetime, *, query: str | None = None,
                    limit: int | None = None, tag: str = "analytics.search_log") -> Iterator[dict[str, Any]]:
    """Yield the searches of [start, end) in time order, one UTC day per ClickHouse query.

    Rows arrive block by block, so memory keeps one block and not the export.
    A search's clicks are those of its query_id from 1 hour before to 24 hours after the day.
    """
    sent = 0
    day_start = start
    while day_start < end and (limit is None or sent < limit):
        day_end = min(floor_day(day_start) + DAY, end)
        params = Params()
        sql = _day_sql(day_start, day_end, query, params)
        for row in client.iter_rows(sql, params, tag=tag, settings=LOG_LIMITS):
            values = row[:2] + row[3:]
            yield dict(zip(LOG_COLUMNS, values))
            sent += 1
            if limit is not None and sent >= limit:
                return
        day_start = day_end
