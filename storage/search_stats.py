"""Counters about search that several processes share in Redis."""

from __future__ import annotations

import redis

from storage import clients
from storage.errors import StorageUnavailable

LOST_EVENTS_KEY = "search:lost_events"


def add_lost_events(count: int) -> None:
    """Add to the count of search events that could not be buffered."""
    try:
        clients.redis_client().incrby(LOST_EVENTS_KEY, count)
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc


def lost_events() -> int:
    """Return the count of lost search events recorded so far by all processes."""
    try:
        value = clients.redis_client().get(LOST_EVENTS_KEY)
    except redis.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc
    return int(value or 0)
