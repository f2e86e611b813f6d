"""Per-process, lazily created clients for ClickHouse, Elasticsearch and Redis.

Nothing here connects at import time. `configure()` records the settings, and
each client is built on first use. A child process throws its clients away
after fork, because gunicorn and Celery's prefork pool fork after start-up and
a socket shared between processes interleaves their traffic.
"""

from __future__ import annotations

import logging
import os
import threading

import redis
from elasticsearch import Elasticsearch

from config import Settings, get_settings
from storage.clickhouse import ClickHouse

logger = logging.getLogger(__name__)

WEB = "web"
TASK = "task"

_lock = threading.Lock()
_settings: Settings | None = None
_elastic: dict[str, Elasticsearch] = {}
_redis: redis.Redis | None = None
# clickhouse-driver connections are not thread-safe, so each thread gets its own.
_thread_state = threading.local()
_generation = 0


def configure(settings: Settings) -> None:
    """Use these settings for every client built from now on in this process."""
    global _settings
    with _lock:
        _settings = settings
        _reset_locked()


def settings() -> Settings:
    return _settings or get_settings()


def reset() -> None:
    """Drop every client; the next call builds new ones."""
    with _lock:
        _reset_locked()


def _reset_locked() -> None:
    global _redis, _generation
    _elastic.clear()
    _redis = None
    # Thread-local ClickHouse clients notice the new generation on next use.
    _generation += 1


def _after_fork_in_child() -> None:
    global _lock
    # The parent may have held the lock while forking; a child needs a new one.
    _lock = threading.Lock()
    _reset_locked()


os.register_at_fork(after_in_child=_after_fork_in_child)


def elastic(profile: str = WEB) -> Elasticsearch:
    """Return the Elasticsearch client of this process for a timeout profile."""
    client = _elastic.get(profile)
    if client is not None:
        return client
    with _lock:
        if profile not in _elastic:
            current = settings()
            timeout = current.web_es_timeout if profile == WEB else current.task_es_timeout
            _elastic[profile] = Elasticsearch(
                current.elastic_url,
                request_timeout=timeout,
                # Web calls fail fast and become a 503; tasks retry in Celery instead.
                max_retries=0 if profile == WEB else 2,
                retry_on_timeout=profile != WEB,
            )
        return _elastic[profile]


def clickhouse(profile: str = WEB) -> ClickHouse:
    """Return this thread's ClickHouse client for a timeout profile."""
    cache = getattr(_thread_state, "clients", None)
    if cache is None or _thread_state.generation != _generation:
        for stale in (cache or {}).values():
            stale.disconnect()
        cache = _thread_state.clients = {}
        _thread_state.generation = _generation
    client = cache.get(profile)
    if client is None:
        current = settings()
        timeout = current.web_clickhouse_timeout if profile == WEB else current.task_clickhouse_timeout
        client = cache[profile] = ClickHouse(current, timeout=timeout)
    return client


def redis_client() -> redis.Redis:
    """Return the Redis client of this process (its pool is thread-safe)."""
    global _redis
    if _redis is not None:
        return _redis
    with _lock:
        if _redis is None:
            current = settings()
            _redis = redis.Redis.from_url(
                current.redis_dsn,
                socket_timeout=current.redis_timeout,
                socket_connect_timeout=current.redis_timeout,
                health_check_interval=30,
            )
        return _redis
