"""Insert events straight into the raw tables, in the shape the ingestion pipeline writes.

For tests and benchmarks that need a fixed or generated event set; the
service itself ingests through the events queue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from storage.clickhouse import ClickHouse

SEARCH_COLUMNS = (
    "event_id", "query_id", "timestamp", "timestamp_ms", "received_at", "query", "normalized_query",
    "filters", "filter_names", "filter_values", "sort", "page", "page_size", "total", "took_ms",
    "session_id", "user_id",
)
EVENT_COLUMNS = (
    "event_id", "event_type", "timestamp", "received_at", "product_id", "session_id", "user_id",
    "query_id", "position", "quantity", "price", "currency", "order_id",
)

_SEARCH_DEFAULTS: dict[str, Any] = {
    "filters": "{}", "filter_names": [], "filter_values": [], "sort": "relevance", "page": 1,
    "page_size": 20, "total": 0, "took_ms": 0, "session_id": "", "user_id": "",
}
_EVENT_DEFAULTS: dict[str, Any] = {
    "session_id": "", "user_id": "", "query_id": "", "position": 0, "quantity": 0,
    "price": Decimal("0"), "currency": "", "order_id": "",
}


def _epoch_ms(moment: datetime) -> int:
    return int(round((moment - datetime(1970, 1, 1)).total_seconds() * 1000))


def search_row(values: Mapping[str, Any]) -> tuple:
    """Build a search_events row from a mapping. Its timestamp is naive UTC and may carry milliseconds."""
    row = {**_SEARCH_DEFAULTS, **values}
    moment: datetime = row["timestamp"]
    row.setdefault("timestamp_ms", _epoch_ms(moment))
    row["timestamp"] = moment.replace(microsecond=0)
    row.setdefault("received_at", row["timestamp"])
    row.setdefault("normalized_query", row["query"].strip().lower())
    return tuple(row[column] for column in SEARCH_COLUMNS)


def event_row(values: Mapping[str, Any]) -> tuple:
    """Build an events row from a mapping. Its timestamp is naive UTC."""
    row = {**_EVENT_DEFAULTS, **values}
    row["timestamp"] = row["timestamp"].replace(microsecond=0)
    row.setdefault("received_at", row["timestamp"])
    row["price"] = Decimal(row["price"])
    return tuple(row[column] for column in EVENT_COLUMNS)


def insert_searches(client: ClickHouse, rows: Iterable[Sequence[Any]], *, tag: str = "analytics.insert") -> int:
    return client.insert("search_events", SEARCH_COLUMNS, rows, tag=tag)


def insert_events(client: ClickHouse, rows: Iterable[Sequence[Any]], *, tag: str = "analytics.insert") -> int:
    return client.insert("events", EVENT_COLUMNS, rows, tag=tag)
