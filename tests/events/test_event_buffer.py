"""The Redis event buffer against the real Redis: push, backlog cap, claims."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from storage import clients, event_buffer
from storage.errors import StorageUnavailable


def interaction_row(event_id: str, **overrides) -> dict:
    row = {
        "event_id": event_id,
        "event_type": "purchase",
        "timestamp": datetime(2026, 12, 1, 10, 30, tzinfo=timezone.utc),
        "received_at": datetime(2026, 12, 1, 10, 30, 1, tzinfo=timezone.utc),
        "product_id": "p-1",
        "session_id": "s-1",
        "quantity": 2,
        "price": Decimal("19.9900"),
        "currency": "EUR",
        "order_id": "o-1",
    }
    row.update(overrides)
    return row


def search_row(event_id: str) -> dict:
    return {
        "event_id": event_id,
        "query_id": "q-" + event_id,
        "timestamp": datetime(2026, 12, 1, 10, 30, tzinfo=timezone.utc),
        "timestamp_ms": 1_796_121_000_000,
        "query": "Red Shoes",
        "normalized_query": "red shoes",
        "filter_names": ["brand"],
        "filter_values": ["acme"],
        "total": 12,
    }


def test_push_buffers_encoded_rows(scheduled):
    event_buffer.push("interaction", [interaction_row("e-1"), interaction_row("e-2")])

    raw = clients.redis_client().lrange(event_buffer.buffer_key("interaction"), 0, -1)
    assert len(raw) == 2
    values = event_buffer.decode_row("interaction", raw[0])
    row = dict(zip(event_buffer.COLUMNS["interaction"], values))
    assert row["event_id"] == "e-1"
    assert row["timestamp"] == int(datetime(2026, 12, 1, 10, 30, tzinfo=timezone.utc).timestamp())
    assert row["price"] == Decimal("19.9900")
    assert row["user_id"] == ""


def test_push_search_rows_keep_arrays(scheduled):
    event_buffer.push("search", [search_row("s-1")])

    raw = clients.redis_client().lindex(event_buffer.buffer_key("search"), 0)
    row = dict(zip(event_buffer.COLUMNS["search"], event_buffer.decode_row("search", raw)))
    assert row["filter_names"] == ["brand"]
    assert row["filter_values"] == ["acme"]
    assert row["normalized_query"] == "red shoes"
    assert row["received_at"] > 0


def test_push_schedules_one_age_flush(scheduled, configured):
    event_buffer.push("interaction", [interaction_row("e-1")])
    event_buffer.push("interaction", [interaction_row("e-2")])

    assert scheduled == [("interaction", configured.event_batch_max_age, False)]


def test_push_schedules_size_flush_at_full_batch(scheduled, configured):
    small = configured.model_copy(update={"event_batch_size": 10})
    clients.configure(small)

    event_buffer.push("interaction", [interaction_row(f"e-{i}") for i in range(9)])
    event_buffer.push("interaction", [interaction_row("e-9")])

    assert ("interaction", 0, True) in scheduled
    assert len(scheduled) == 2


def test_push_rejects_unknown_column(scheduled):
    with pytest.raises(ValueError, match="unknown columns"):
        event_buffer.push("interaction", [interaction_row("e-1", colour="red")])
    with pytest.raises(ValueError, match="unknown event kind"):
        event_buffer.push("clicks", [interaction_row("e-1")])
    with pytest.raises(ValueError, match="event_id"):
        event_buffer.push("interaction", [interaction_row(17)])
    with pytest.raises(ValueError, match="required"):
        event_buffer.push("interaction", [{"event_id": "e-1", "event_type": "view"}])


def test_push_backlog_full_raises(scheduled, configured):
    capped = configured.model_copy(update={"event_backlog_limit": 1000})
    clients.configure(capped)
    event_buffer.push("interaction", [interaction_row(f"e-{i}") for i in range(990)])

    with pytest.raises(event_buffer.BacklogFull) as caught:
        event_buffer.push("search", [search_row(f"s-{i}") for i in range(11)])

    assert isinstance(caught.value, StorageUnavailable)
    assert caught.value.backlog == 990
    assert caught.value.retry_after > 0
    assert event_buffer.buffered("search") == 0


def test_push_redis_down_raises_unavailable(scheduled, configured):
    # Nothing listens on this port of the private range, so the connection is refused.
    clients.configure(configured.model_copy(update={"redis_url": "redis://127.0.0.1:6393/0"}))

    with pytest.raises(StorageUnavailable) as caught:
        event_buffer.push("interaction", [interaction_row("e-1")])

    assert caught.value.dependency == "redis"
    assert scheduled == []


def test_claim_and_release_track_backlog(scheduled):
    event_buffer.push("interaction", [interaction_row(f"e-{i}") for i in range(25)])

    claim = event_buffer.claim("interaction", "task-a", 10)

    assert len(claim.rows) == 10
    assert event_buffer.backlog() == {"search": 0, "interaction": 15, "claimed": 10}
    event_buffer.release(claim)
    assert event_buffer.backlog() == {"search": 0, "interaction": 15, "claimed": 0}
    assert event_buffer.claim("interaction", "task-a", 10, min_rows=20) is None


def test_orphaned_claims_owner_and_stale(scheduled):
    event_buffer.push("interaction", [interaction_row(f"e-{i}") for i in range(6)])
    first = event_buffer.claim("interaction", "task-a", 3)
    second = event_buffer.claim("interaction", "task-b", 3)

    own = event_buffer.orphaned_claims("interaction", "task-a")
    assert [c.key for c in own] == [first.key]
    assert own[0].rows == first.rows

    stale = event_buffer.orphaned_claims("interaction", "task-c", stale_after=0)
    assert {c.key for c in stale} == {first.key, second.key}


def test_dead_letters_listed_and_cleared(scheduled):
    raw = event_buffer.encode_row("interaction", interaction_row("e-1"))
    event_buffer.add_dead_letters("interaction", [raw, b"not json"], "rejected by test")

    total, entries = event_buffer.dead_letters("interaction")

    assert total == 2
    assert entries[1]["row"]["event_id"] == "e-1"
    assert entries[0]["row"] == "not json"
    assert entries[0]["reason"] == "rejected by test"
    assert json.loads(json.dumps(entries))
    assert event_buffer.clear_dead_letters("interaction") == 2
    assert event_buffer.dead_letters("interaction")[0] == 0
