"""Popular past queries for autocomplete, kept in Redis and refreshed from ClickHouse.

A refresh task counts the searches with results per normalized query over the
last days in search_events. It replaces one Redis sorted set in a transaction:
every member has score 0, so ZRANGEBYLEX finds a prefix, and is the query, a
NUL byte and its count, so one call returns queries and counts. A keystroke
costs one Redis round trip (with the refresh check) and never touches
ClickHouse.
"""

from __future__ import annotations

import logging
import time
import uuid

import redis

from storage import clients
from storage.errors import StorageUnavailable
from storage.text_analysis import normalize_query

logger = logging.getLogger(__name__)

QUERIES_KEY = "search:suggest:queries"
# Separates a query from its count in a member; it sorts before any character.
_SEPARATOR = b"\x00"
REFRESHED_AT_KEY = "search:suggest:refreshed_at"
# Set while a refresh is due to start or running; its expiry is the refresh period.
REFRESH_MARKER_KEY = "search:suggest:refresh_marker"
REFRESH_PERIOD_SECONDS = 300

# How far back searches count, how often a query must have been searched
# (one shopper's typo should not become a suggestion), and how many are kept.
WINDOW_DAYS = 30
MIN_SEARCHES = 2
MAX_QUERIES = 50_000
MAX_QUERY_LENGTH = 100
# Prefix matches read from Redis before ranking them by count.
_SCAN_LIMIT = 500


def popular_queries(prefix: str, limit: int, *, claim_refresh: bool = False) -> tuple[list[dict[str, object]], bool]:
    """Return up to `limit` past queries starting with the prefix, most searched first.

    With claim_refresh, the same round trip also returns whether the caller
    should start a refresh (True once per REFRESH_PERIOD_SECONDS).
    """
    start = normalize_query(prefix).encode()
    pipe = clients.redis_client().pipeline(transaction=False)
    if start:
        pipe.zrangebylex(QUERIES_KEY, b"[" + start, b"[" + start + b"\xff", start=0, num=_SCAN_LIMIT)
    if claim_refresh:
        pipe.set(REFRESH_MARKER_KEY, b"1", nx=True, ex=REFRESH_PERIOD_SECONDS)
    try:
        replies = pipe.execute() if start or claim_refresh else []
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc

    members = replies[0] if start else []
    refresh_due = bool(replies[-1]) if claim_refresh else False
    ranked = sorted((_decode(member) for member in members), key=lambda pair: (-pair[1], pair[0]))
    return [{"query": query, "count": count} for query, count in ranked[:limit]], refresh_due


def _decode(member: bytes) -> tuple[str, int]:
    query, _, count = member.rpartition(_SEPARATOR)
    return query.decode(), int(count)


def count_recent_queries(*, tag: str, days: int = WINDOW_DAYS, min_searches: int = MIN_SEARCHES,
                         limit: int = MAX_QUERIES) -> list[tuple[str, int]]:
    """Count searches with results per normalized query over the last `days` days, in ClickHouse."""
    rows = clients.clickhouse(clients.TASK).execute(
        """
        SELECT normalized_query, count() AS searches
        FROM search_events
        WHERE timestamp >= now() - toIntervalDay(%(days)s)
          AND total > 0
          AND normalized_query != ''
          AND lengthUTF8(normalized_query) <= %(max_length)s
        GROUP BY normalized_query
        HAVING searches >= %(min_searches)s
        ORDER BY searches DESC, normalized_query
        LIMIT %(limit)s
        """,
        {"days": days, "max_length": MAX_QUERY_LENGTH, "min_searches": min_searches, "limit": limit},
        tag=tag,
    )
    return [(query, int(searches)) for query, searches in rows]


def replace_popular_queries(counts: list[tuple[str, int]]) -> None:
    """Replace the stored queries and counts with these in one transaction."""
    staging = f"{QUERIES_KEY}:{uuid.uuid4().hex}"
    members = {query.encode() + _SEPARATOR + str(count).encode(): 0 for query, count in counts}
    try:
        pipe = clients.redis_client().pipeline(transaction=True)
        if members:
            pipe.zadd(staging, members)
            pipe.rename(staging, QUERIES_KEY)
        else:
            pipe.delete(QUERIES_KEY)
        pipe.set(REFRESHED_AT_KEY, int(time.time()))
        pipe.execute()
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc


def refresh_popular_queries(*, tag: str) -> int:
    """Recount past queries in ClickHouse and store them for suggest; return how many."""
    counts = count_recent_queries(tag=tag)
    replace_popular_queries(counts)
    logger.info("query_suggestions_refreshed queries=%d", len(counts))
    return len(counts)
