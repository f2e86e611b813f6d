"""Events from HTTP to ClickHouse through the session's real Celery worker, then purged."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from storage import clients, event_buffer
from tests.conftest import wait_for


def stored(where: str) -> int:
    client = clients.clickhouse(clients.TASK)
    (count,), = client.execute(f"SELECT count() FROM events WHERE {where}", tag="test")
    return count


def flushed() -> bool:
    """True when nothing waits in Redis and no flush is scheduled."""
    redis_client = clients.redis_client()
    idle = not any(event_buffer.backlog().values())
    return idle and not redis_client.exists("events:age_flush:interaction", "events:size_flush:interaction")


def batch(prefix: str, count: int, user_id: str) -> dict:
    now = datetime.now(timezone.utc).isoformat()
    return {"events": [{"event_id": f"{prefix}-{i}", "type": "view", "product_id": f"p-{i % 7}",
                        "user_id": user_id, "timestamp": now} for i in range(count)]}


def test_events_stored_resent_and_purged(client, configured, celery_worker):
    first = batch("pipe-a", 200, "user-keep")
    for body in (first, batch("pipe-b", 100, "user-forget")):
        assert client.post("/api/v1/events", json=body).status_code == 202
    wait_for(lambda: stored("startsWith(event_id, 'pipe-')") == 300 and flushed(), timeout=60,
             message="300 events stored by the worker")

    # The client missed the first response and sends the same events again.
    assert client.post("/api/v1/events", json=first).status_code == 202
    wait_for(flushed, timeout=60, message="the resent batch flushed")
    assert stored("startsWith(event_id, 'pipe-')") == 300

    response = client.post("/api/v1/admin/events/purge", json={"user_id": "user-forget"})
    assert response.status_code == 202
    assert response.json["task_id"]
    wait_for(lambda: stored("user_id = 'user-forget'") == 0, timeout=60, message="the purge")
    assert stored("user_id = 'user-keep'") == 200
    wait_for(lambda: client.get("/api/v1/admin/events/mutations").json == [], timeout=60,
             message="no pending mutation")


def test_sweep_flushes_orphaned_rows(scheduled, celery_worker):
    from tasks.events import sweep

    # The recording scheduler enqueues nothing: rows wait with no flush, as after a worker died.
    event_buffer.push("interaction", [{"event_id": "swept-1", "event_type": "view",
                                       "timestamp": datetime.now(timezone.utc)}])
    time.sleep(2)
    assert stored("event_id = 'swept-1'") == 0

    result = sweep.delay().get(timeout=30)

    assert result["scheduled"] == ["interaction"]

    wait_for(lambda: stored("event_id = 'swept-1'") == 1, timeout=60, message="the swept event")
    # Let scheduled flushes finish before the next test owns the buffer.
    wait_for(flushed, timeout=60, message="an idle buffer")
    time.sleep(1)
