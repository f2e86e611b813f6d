"""The search event: built from a search and handed to the event buffer.

A search puts its event on an in-process queue and returns. A background
thread of each process pushes the waiting events to the Redis buffer, all of
them in one call, so no request waits for Redis and busy processes make fewer
round trips. With Redis down the search still returns its results and the
event is lost: it is logged and counted in this process, and the next push
that reaches Redis again adds the count to the shared counter there.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import threading
import time
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

    def add(self, count: int = 1) -> None:
        with self._lock:
            self.total += count
            self._unrecorded += count

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


def record_search_events(rows: list[dict[str, Any]]) -> bool:
    """Push events to the buffer in one call; return False when they were lost.

    Catches every exception: it runs in the sender thread, where an exception
    would end the thread and reach the log without the events' ids.
    """
    try:
        event_buffer.push("search", rows)
    except StorageUnavailable as exc:
        lost_events.add(len(rows))
        logger.warning("search_events_lost count=%d first_query_id=%s error=%s lost_in_process=%d",
                       len(rows), rows[0]["query_id"], exc, lost_events.total)
        return False
    except Exception:
        lost_events.add(len(rows))
        logger.exception("search_events_failed count=%d first_query_id=%s lost_in_process=%d",
                         len(rows), rows[0]["query_id"], lost_events.total)
        return False

    _record_earlier_losses()
    return True


class EventSender:
    """The queue of search events waiting for Redis in this process, and the thread that pushes them."""

    # Events waiting beyond this count are dropped (and counted as lost), so
    # a long Redis outage cannot grow the process without bound.
    MAX_WAITING = 10_000
    MAX_BATCH = 500
    INTERVAL_SECONDS = 0.05

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(self.MAX_WAITING)
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, row: dict[str, Any]) -> None:
        """Queue one event for the background push without waiting for Redis or for queue space."""
        self._ensure_thread()
        try:
            self._queue.put_nowait(row)
        except queue.Full:
            lost_events.add()
            logger.warning("search_events_lost count=1 first_query_id=%s error=queue_full lost_in_process=%d",
                           row["query_id"], lost_events.total)

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event has been pushed or lost; return False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            if self._pid != os.getpid():
                # A forked child has no sender thread, and the parent's queue lock may be held.
                self._queue = queue.Queue(self.MAX_WAITING)
                self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="search-event-sender", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        # Polling on a timer, rather than waiting on the queue, keeps the
        # thread from waking (and taking the GIL) in the middle of every request.
        events = self._queue
        while True:
            time.sleep(self.INTERVAL_SECONDS)
            while True:
                rows = []
                while len(rows) < self.MAX_BATCH:
                    try:
                        rows.append(events.get_nowait())
                    except queue.Empty:
                        break
                if not rows:
                    break
                record_search_events(rows)
                for _ in rows:
                    events.task_done()


sender = EventSender()
# Push what is still queued when the process exits normally (a gunicorn worker
# restart); a killed process loses at most what was queued.
atexit.register(sender.flush, 2.0)


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
