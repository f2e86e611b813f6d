"""Popular past queries for autocomplete, kept in Redis and refreshed from ClickHouse.

A refresh task counts the searches with results per normalized query over the
last days in search_events. It replaces two Redis keys in one transaction: a
sorted set of the queries, all with score 0 so that ZRANGEBYLEX finds a
prefix, and a hash of their counts. A keystroke then costs two Redis calls and
never touches ClickHouse.
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
COUNTS_KEY = "search:suggest:counts"
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


def popular_queries(prefix: str, limit: int) -> list[dict[str, object]]:
    """Return up to `limit` past queries starting with the prefix, most searched first."""
    start = normalize_query(prefix)
    if not start:
        return []
    client = clients.redis_client()
    try:
        members = client.zrangebylex(QUERIES_KEY, b"[" + start.encode(), b"[" + start.encode() + b"\xff",
                                     start=0, num=_SCAN_LIMIT)
        counts = client.hmget(COUNTS_KEY, members) if members else []
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc

    ranked = sorted(
        ((member.decode(), int(count or 0)) for member, count in zip(members, counts)),
        key=lambda pair: (-pair[1], pair[0]),
    )
    return [{"query": query, "count": count} for query, count in ranked[:limit]]


def claim_refresh() -> bool:
    """Return True once per refresh period: the caller should then start a refresh."""
    try:
        return bool(clients.redis_client().set(REFRESH_MARKER_KEY, b"1", nx=True, ex=REFRESH_PERIOD_SECONDS))
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc


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
    suffix = uuid.uuid4().hex
    staging_queries, staging_counts = f"{QUERIES_KEY}:{suffix}", f"{COUNTS_KEY}:{suffix}"
    try:
        pipe = clients.redis_client().pipeline(transaction=True)
        if counts:
            pipe.zadd(staging_queries, {query: 0 for query, _ in counts})
            pipe.hset(staging_counts, mapping={query: count for query, count in counts})
            pipe.rename(staging_queries, QUERIES_KEY)
            pipe.rename(staging_counts, COUNTS_KEY)
        else:
            pipe.delete(QUERIES_KEY, COUNTS_KEY)
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
