"""Fixtures of the event tests: an empty event buffer and a scheduler that records calls."""

from __future__ import annotations

import pytest

from storage import clients, event_buffer


def clear_event_keys() -> None:
    redis_client = clients.redis_client()
    keys = list(redis_client.scan_iter(match=f"{event_buffer.KEY_PREFIX}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture()
def configured(storage_ready):
    """The session settings in this process, with no event left in Redis before or after."""
    clients.configure(storage_ready)
    clear_event_keys()
    yield storage_ready
    clients.configure(storage_ready)
    clear_event_keys()


@pytest.fixture()
def scheduled(configured):
    """Record the flushes push() requests instead of enqueuing Celery tasks."""
    calls: list[tuple[str, float, bool]] = []
    previous = event_buffer._flush_scheduler
    event_buffer.set_flush_scheduler(lambda kind, countdown, full: calls.append((kind, countdown, full)))
    yield calls
    event_buffer.set_flush_scheduler(previous)


@pytest.fixture(scope="session")
def ingest_headers(storage_ready):
    """Headers with an API key that may send events and use the admin endpoints."""
    from storage import api_keys

    _key, token = api_keys.create_key("events-tests", ["ingest", "admin"])
    return {"X-API-Key": token}
