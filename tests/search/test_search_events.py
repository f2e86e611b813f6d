"""The search event: built per search, buffered in Redis, inserted into ClickHouse by a worker."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from storage import clients
from tests.conftest import wait_for


def _stored_event(query_id: str) -> dict | None:
    rows = clients.clickhouse().query_dicts(
        "SELECT * FROM search_events WHERE query_id = %(query_id)s", {"query_id": query_id},
        tag="tests.search_events",
    )
    return rows[0] if rows else None


def test_search_event_reaches_clickhouse(celery_worker, search_client):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    response = search_client.get(
        "/api/v1/search",
        query_string={"q": "  Crème   BRÛLÉE ", "brand": ["Bonjour", "Lodge"], "min_price": "10",
                      "in_stock": "true", "sort": "price_asc", "page_size": "5"},
        headers={"X-Session-Id": "session-42", "X-User-Id": "user-7"},
    )
    body = response.get_json()
    assert response.status_code == 200, body

    event = wait_for(lambda: _stored_event(body["query_id"]), timeout=30, message="the search event in ClickHouse")
    assert event["query"] == "  Crème   BRÛLÉE "
    assert event["normalized_query"] == "crème brûlée"
    assert event["total"] == body["total"] == 1
    assert event["took_ms"] == body["took_ms"]
    assert event["sort"] == "price_asc"
    assert event["page"] == 1
    assert event["page_size"] == 5
    assert event["session_id"] == "session-42"
    assert event["user_id"] == "user-7"
    assert event["filter_names"] == ["brand", "brand", "min_price", "in_stock"]
    assert event["filter_values"] == ["Bonjour", "Lodge", "10", "true"]
    assert json.loads(event["filters"]) == {"brand": ["Bonjour", "Lodge"], "min_price": ["10"], "in_stock": ["true"]}
    assert len(event["event_id"]) == 32
    stored_at = event["timestamp"].replace(tzinfo=timezone.utc)
    assert before <= stored_at <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert abs(event["timestamp_ms"] / 1000 - stored_at.timestamp()) < 1


def test_search_without_headers_has_empty_ids(celery_worker, search_client):
    body = search_client.get("/api/v1/search", query_string={"q": "skillet"}).get_json()
    event = wait_for(lambda: _stored_event(body["query_id"]), timeout=30, message="the search event in ClickHouse")
    assert event["session_id"] == ""
    assert event["user_id"] == ""
    assert event["filter_names"] == []
    assert event["normalized_query"] == "skillet"


def test_suggest_records_no_event(celery_worker, search_client):
    prefix = f"zz{uuid.uuid4().hex[:8]}"
    assert search_client.get("/api/v1/search/suggest", query_string={"q": prefix}).status_code == 200

    # A search sent after the suggest call is flushed after anything the suggest call could have buffered.
    marker = search_client.get("/api/v1/search", query_string={"q": f"marker {prefix}"}).get_json()
    wait_for(lambda: _stored_event(marker["query_id"]), timeout=30, message="the marker search event")
    rows = clients.clickhouse().execute(
        "SELECT count() FROM search_events WHERE query = %(prefix)s", {"prefix": prefix}, tag="tests.search_events",
    )
    assert rows[0][0] == 0


def test_sender_pushes_queued_events(celery_worker, storage_ready):
    from storage.search import SearchRequest
    from webapp.search.events import build_search_event, now_utc, sender

    clients.configure(storage_ready)
    query_ids = [uuid.uuid4().hex for _ in range(5)]
    for query_id in query_ids:
        sender.submit(build_search_event(
            query_id=query_id, raw_query="lamp", request=SearchRequest(q="lamp"), total=3, took_ms=4,
            session_id="s", user_id="", at=now_utc(),
        ))
    assert sender.flush()

    def stored() -> bool:
        rows = clients.clickhouse().execute(
            "SELECT count() FROM search_events WHERE query_id IN %(ids)s", {"ids": tuple(query_ids)},
            tag="tests.search_events",
        )
        return rows[0][0] == len(query_ids)
    wait_for(stored, timeout=30, message="the five queued events in ClickHouse")
