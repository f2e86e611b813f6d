"""The search event: built from a search and handed to the event buffer.

A search returns its results even when Redis is down. The event is then
lost: it is logged and counted in this process, and the next search that
reaches Redis again adds the count to the shared counter there.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from datetime import datetime, timezone
from typing import Any

# Imported for its side effect: it registers the Celery task that flushes the
# buffer, so a push from this process schedules the insert into ClickHouse.
import tasks.events  # noqa: F401
from storage import event_buffer, search_stats
from storage.errors import StorageUnavailable
from storage.search import SearchRequest
from storage.text_analysis import normalize_query

logger = logging.getLogger(__name__)


class LostEventCounter:
    """Lost events of this process: all of them, and those not yet added to Redis."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self._unrecorded = 0

    def add(self) -> None:
        with self._lock:
            self.total += 1
            self._unrecorded += 1

    def take_unrecorded(self) -> int:
        with self._lock:
            count, self._unrecorded = self._unrecorded, 0
            return count

    def give_back(self, count: int) -> None:
        with self._lock:
            self._unrecorded += count


lost_events = LostEventCounter()


def filter_pairs(request: SearchRequest) -> list[tuple[str, str]]:
    """Return the applied filters as (name, value) pairs, one pair per selected value."""
    pairs = [("category", value) for value in request.categories]
    pairs += [("brand", value) for value in request.brands]
    if request.min_price is not None:
        pairs.append(("min_price", f"{request.min_price:g}"))
    if request.max_price is not None:
        pairs.append(("max_price", f"{request.max_price:g}"))
    if request.in_stock is not None:
        pairs.append(("in_stock", "true" if request.in_stock else "false"))
    return pairs


def build_search_event(
    *,
    query_id: str,
    raw_query: str,
    request: SearchRequest,
    total: int,
    took_ms: int,
    session_id: str,
    user_id: str,
    at: datetime,
) -> dict[str, Any]:
    """Build the row of table search_events for one completed search."""
    pairs = filter_pairs(request)
    filters: dict[str, Any] = {}
    for name, value in pairs:
        filters.setdefault(name, []).append(value)
    return {
        "event_id": uuid.uuid4().hex,
        "query_id": query_id,
        "timestamp": at,
        "timestamp_ms": int(at.timestamp() * 1000),
        "received_at": at,
        "query": raw_query,
        "normalized_query": normalize_query(raw_query),
        "filters": json.dumps(filters, ensure_ascii=False, separators=(",", ":")),
        "filter_names": [name for name, _ in pairs],
        "filter_values": [value for _, value in pairs],
        "sort": request.sort,
        "page": request.page,
        "page_size": request.page_size,
        "total": total,
        "took_ms": took_ms,
        "session_id": session_id,
        "user_id": user_id,
    }


def record_search_event(row: dict[str, Any]) -> bool:
    """Hand the event to the buffer; return False when it was lost.

    Catches every exception: it runs after the response was sent, where an
    exception would reach the server's log without the event's ids.
    """
    try:
        event_buffer.push("search", [row])
    except StorageUnavailable as exc:
        lost_events.add()
        logger.warning("search_event_lost query_id=%s event_id=%s error=%s lost_in_process=%d",
                       row["query_id"], row["event_id"], exc, lost_events.total)
        return False
    except Exception:
        lost_events.add()
        logger.exception("search_event_failed query_id=%s event_id=%s lost_in_process=%d",
                         row["query_id"], row["event_id"], lost_events.total)
        return False

    _record_earlier_losses()
    return True


def _record_earlier_losses() -> None:
    count = lost_events.take_unrecorded()
    if not count:
        return
    try:
        search_stats.add_lost_events(count)
    except StorageUnavailable:
        lost_events.give_back(count)


def now_utc() -> datetime:
    return datetime.now(timezone.utc)
