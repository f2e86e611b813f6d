"""POST /api/v1/events and the events admin endpoints, through the Flask app on the real services."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from storage import clients, event_buffer
from tasks.events import drain


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def now_iso(**delta) -> str:
    return iso(datetime.now(timezone.utc) + timedelta(**delta))


def view(event_id: str | None = None, **fields) -> dict:
    event = {"type": "view", "product_id": "p-1", "session_id": "s-1", "timestamp": now_iso()}
    if event_id:
        event["event_id"] = event_id
    event.update(fields)
    return event


VALID = {
    "view": view(),
    "click": view(type="click", query_id="q-1", position=3),
    "add_to_cart": view(type="add_to_cart", quantity=2),
    "purchase": view(type="purchase", quantity=1, price="19.99", currency="EUR", order_id="o-1"),
}


def buffered_rows() -> list[dict]:
    raw = clients.redis_client().lrange(event_buffer.buffer_key("interaction"), 0, -1)
    columns = list(event_buffer.COLUMNS["interaction"])
    return [dict(zip(columns, event_buffer.decode_row("interaction", item))) for item in raw]


@pytest.mark.parametrize("event_type", sorted(VALID))
def test_each_type_accepted(client, scheduled, configured, ingest_headers, event_type):
    response = client.post("/api/v1/events", json=VALID[event_type], headers=ingest_headers)

    assert response.status_code == 202, response.json
    assert response.json["accepted"] == 1
    rows = buffered_rows()
    assert len(rows) == 1
    assert rows[0]["event_type"] == event_type
    assert rows[0]["event_id"] == response.json["event_ids"][0]


def test_batch_accepted_keeps_client_ids(client, scheduled, configured, ingest_headers):
    events = [view("a-1"), view(), VALID["purchase"] | {"event_id": "a-3"}]

    response = client.post("/api/v1/events", json={"events": events}, headers=ingest_headers)

    assert response.status_code == 202
    ids = response.json["event_ids"]
    assert ids[0] == "a-1"
    assert ids[2] == "a-3"
    assert len(ids[1]) == 36
    rows = buffered_rows()
    assert [row["event_id"] for row in rows] == ids
    assert str(rows[2]["price"]) == "19.99"
    assert rows[2]["currency"] == "EUR"
    assert scheduled == [("interaction", configured.event_batch_max_age, False)]


def test_timestamp_defaults_to_receive_time(client, scheduled, configured, ingest_headers):
    event = view()
    del event["timestamp"]

    response = client.post("/api/v1/events", json=event, headers=ingest_headers)

    assert response.status_code == 202
    row = buffered_rows()[0]
    assert row["timestamp"] == row["received_at"]
    assert abs(row["received_at"] - datetime.now(timezone.utc).timestamp()) < 5


INVALID = [
    ("missing type", {"type": None}, "type"),
    ("unknown type", {"type": "refund"}, "type"),
    ("missing product", {"product_id": None}, "product_id"),
    ("empty product", {"product_id": ""}, "product_id"),
    ("event_id format", {"event_id": "has space"}, "event_id"),
    ("event_id too long", {"event_id": "e" * 129}, "event_id"),
    # Callables: the time is taken when the test runs, not when the module is collected.
    ("future timestamp", {"timestamp": lambda: now_iso(minutes=6)}, "timestamp"),
    ("old timestamp", {"timestamp": lambda: now_iso(days=-31)}, "timestamp"),
    ("naive timestamp", {"timestamp": "2026-12-01T10:00:00"}, "timestamp"),
    ("not a timestamp", {"timestamp": "yesterday"}, "timestamp"),
    ("click without query", {"type": "click", "position": 1}, "query_id"),
    ("click without position", {"type": "click", "query_id": "q"}, "position"),
    ("position zero", {"type": "click", "query_id": "q", "position": 0}, "position"),
    ("position too big", {"type": "click", "query_id": "q", "position": 70_000}, "position"),
    ("position as string", {"type": "click", "query_id": "q", "position": "2"}, "position"),
    ("cart without quantity", {"type": "add_to_cart"}, "quantity"),
    ("quantity zero", {"type": "add_to_cart", "quantity": 0}, "quantity"),
    ("price on view", {"price": "1.00"}, "price"),
    ("purchase without price", {**VALID["purchase"], "price": None}, "price"),
    ("price five places", {**VALID["purchase"], "price": "1.00001"}, "price"),
    ("price negative", {**VALID["purchase"], "price": "-1"}, "price"),
    ("price not a number", {**VALID["purchase"], "price": "NaN"}, "price"),
    ("price too large", {**VALID["purchase"], "price": "100000000000000"}, "price"),
    ("currency lower case", {**VALID["purchase"], "currency": "eur"}, "currency"),
    ("currency four letters", {**VALID["purchase"], "currency": "EURO"}, "currency"),
    ("purchase without order", {**VALID["purchase"], "order_id": None}, "order_id"),
    ("unknown field", {"colour": "red"}, "colour"),
]


@pytest.mark.parametrize("case, change, field", INVALID, ids=[case[0] for case in INVALID])
def test_invalid_event_rejected(client, scheduled, configured, ingest_headers, case, change, field):
    event = view() | {name: value() if callable(value) else value for name, value in change.items()}
    event = {name: value for name, value in event.items() if value is not None}

    response = client.post("/api/v1/events", json=event, headers=ingest_headers)

    assert response.status_code == 422, response.json
    assert field in response.json["errors"]["json"]
    assert buffered_rows() == []


def test_invalid_item_rejects_whole_batch(client, scheduled, configured, ingest_headers):
    events = [view("b-0"), view("b-1", position=2), view("b-2"), view("b-3", type="click")]

    response = client.post("/api/v1/events", json={"events": events}, headers=ingest_headers)

    assert response.status_code == 422
    errors = response.json["errors"]["json"]["events"]
    assert set(errors) == {"1", "3"}
    assert "position" in errors["1"]
    assert set(errors["3"]) == {"query_id", "position"}
    assert buffered_rows() == []


def test_over_thousand_events_413(client, scheduled, configured, ingest_headers):
    response = client.post("/api/v1/events", json={"events": [view() for _ in range(1001)]},
                           headers=ingest_headers)

    assert response.status_code == 413
    assert response.json["code"] == 413
    assert buffered_rows() == []


def test_thousand_events_accepted(client, scheduled, configured, ingest_headers):
    response = client.post("/api/v1/events", json={"events": [view() for _ in range(1000)]},
                           headers=ingest_headers)

    assert response.status_code == 202
    assert response.json["accepted"] == 1000
    assert len(set(response.json["event_ids"])) == 1000


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"view"', b'{"events": "all"}', b'{"events": []}'])
def test_malformed_body_rejected(client, scheduled, configured, ingest_headers, body):
    response = client.post("/api/v1/events", data=body, content_type="application/json", headers=ingest_headers)

    assert response.status_code in (400, 422)
    assert response.json["status"]
    assert buffered_rows() == []


def test_missing_key_401(anonymous_client, configured):
    response = anonymous_client.post("/api/v1/events", json=view())

    assert response.status_code == 401


def test_backlog_full_503(client, scheduled, configured, ingest_headers):
    clients.configure(configured.model_copy(update={"event_backlog_limit": 1000}))
    assert client.post("/api/v1/events", json={"events": [view() for _ in range(1000)]},
                       headers=ingest_headers).status_code == 202

    response = client.post("/api/v1/events", json=view(), headers=ingest_headers)

    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) > 0
    assert event_buffer.buffered("interaction") == 1000


def test_redis_down_503(client, scheduled, configured, ingest_headers, app):
    clients.configure(configured.model_copy(update={"redis_url": "redis://127.0.0.1:6393/0"}))

    response = client.post("/api/v1/events", json=view(), headers=ingest_headers)

    assert response.status_code == 503
    assert response.headers["Retry-After"]


def test_dead_letters_endpoint(client, scheduled, configured, ingest_headers):
    poison = {"event_id": "dl-1", "event_type": "refund", "timestamp": datetime.now(timezone.utc)}
    event_buffer.push("interaction", [poison])
    drain("interaction", "test-owner")

    listed = client.get("/api/v1/admin/events/dead-letters?kind=interaction", headers=ingest_headers)

    assert listed.status_code == 200
    assert listed.json["total"] == 1
    assert listed.json["items"][0]["row"]["event_id"] == "dl-1"
    assert listed.json["items"][0]["reason"]
    cleared = client.delete("/api/v1/admin/events/dead-letters?kind=interaction", headers=ingest_headers)
    assert cleared.json == {"deleted": 1}


def test_backlog_endpoint(client, scheduled, configured, ingest_headers):
    client.post("/api/v1/events", json={"events": [view() for _ in range(7)]}, headers=ingest_headers)

    response = client.get("/api/v1/admin/events/backlog", headers=ingest_headers)

    assert response.status_code == 200
    assert response.json["interaction"] == 7
    assert response.json["limit"] == configured.event_backlog_limit


def test_purge_requires_one_id(client, scheduled, configured, ingest_headers):
    both = client.post("/api/v1/admin/events/purge", json={"session_id": "s", "user_id": "u"},
                       headers=ingest_headers)
    neither = client.post("/api/v1/admin/events/purge", json={}, headers=ingest_headers)

    assert both.status_code == 422
    assert neither.status_code == 422
