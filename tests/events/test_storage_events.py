"""Inserting buffered events into the real ClickHouse: batches, de-duplication, dead letters, purge."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from storage import clients, event_buffer, events
from tasks.events import drain
from tests.conftest import wait_for
from tests.events.test_event_buffer import interaction_row, search_row

NOW = datetime.now(timezone.utc).replace(microsecond=0)


def stored(table: str, where: str = "1") -> tuple[int, int]:
    """Return the rows and the distinct event_ids of a table matching a condition."""
    client = clients.clickhouse(clients.TASK)
    (count, unique), = client.execute(f"SELECT count(), uniqExact(event_id) FROM {table} WHERE {where}",
                                      tag="test")
    return count, unique


def max_block_number(table: str) -> int:
    """Return the highest block number of the table's parts: one more per INSERT into a partition."""
    client = clients.clickhouse(clients.TASK)
    (value,), = client.execute(
        "SELECT max(max_block_number) FROM system.parts WHERE database = %(db)s AND table = %(table)s",
        {"db": client.database, "table": table}, tag="test")
    return value


def row(prefix: str, i: int, **overrides) -> dict:
    return interaction_row(f"{prefix}-{i}", timestamp=NOW - timedelta(seconds=i % 50),
                           received_at=NOW, **overrides)


def test_timestamp_ranges_split_at_gaps():
    assert events.timestamp_ranges([10, 5, 7000, 20]) == [(5, 20), (7000, 7000)]
    assert events.timestamp_ranges([]) == []
    assert len(events.timestamp_ranges(range(0, 100 * 7200, 7200))) == 1


def test_thousand_events_one_insert(scheduled):
    blocks_before = max_block_number("events")
    event_buffer.push("interaction", [row("one-insert", i) for i in range(1000)])

    outcome = drain("interaction", "test-owner")

    assert outcome["inserted"] == 1000
    assert outcome["batches"] == 1
    assert stored("events", "event_id LIKE 'one-insert-%'") == (1000, 1000)
    assert max_block_number("events") == blocks_before + 1
    assert event_buffer.backlog() == {"search": 0, "interaction": 0, "claimed": 0}


def test_batches_split_at_batch_size(scheduled, configured):
    clients.configure(configured.model_copy(update={"event_batch_size": 400}))
    event_buffer.push("interaction", [row("split", i) for i in range(1000)])

    outcome = drain("interaction", "test-owner")

    assert outcome["batches"] == 3
    assert stored("events", "event_id LIKE 'split-%'") == (1000, 1000)


def test_full_batches_only_leaves_tail(scheduled, configured):
    clients.configure(configured.model_copy(update={"event_batch_size": 400}))
    event_buffer.push("interaction", [row("tail", i) for i in range(1000)])

    outcome = drain("interaction", "test-owner", full_batches_only=True)

    assert outcome["batches"] == 2
    assert event_buffer.buffered("interaction") == 200


def test_resent_event_ids_counted_once(scheduled):
    first = [row("resent", i) for i in range(10)]
    event_buffer.push("interaction", first)
    drain("interaction", "test-owner")

    # The client resends events 5 to 9 (already stored) with new ones, and one twice.
    again = [row("resent", i) for i in range(5, 15)] + [row("resent", 12)]
    event_buffer.push("interaction", again)
    outcome = drain("interaction", "test-owner")

    assert outcome["inserted"] == 5
    assert outcome["duplicates"] == 6
    assert stored("events", "event_id LIKE 'resent-%'") == (15, 15)


def test_redelivered_claim_not_duplicated(scheduled):
    event_buffer.push("interaction", [row("redelivered", i) for i in range(300)])
    # The first delivery inserted its claim and died before releasing it.
    claim = event_buffer.claim("interaction", "task-killed", 5000)
    events.insert_batch("interaction", claim.rows, tag="test")
    assert stored("events", "event_id LIKE 'redelivered-%'") == (300, 300)

    outcome = drain("interaction", "task-killed")

    assert outcome["duplicates"] == 300
    assert outcome["inserted"] == 0
    assert stored("events", "event_id LIKE 'redelivered-%'") == (300, 300)
    assert event_buffer.backlog()["claimed"] == 0


def test_stale_claim_of_other_task_recovered(scheduled):
    event_buffer.push("interaction", [row("stale", i) for i in range(50)])
    event_buffer.claim("interaction", "task-gone", 5000)

    assert drain("interaction", "task-new")["inserted"] == 0
    outcome = drain("interaction", "task-new", stale_after=0)

    assert outcome["inserted"] == 50
    assert stored("events", "event_id LIKE 'stale-%'") == (50, 50)


def test_poison_event_dead_lettered(scheduled):
    rows = [row("poison", i) for i in range(100)]
    rows[37] = row("poison", 37, event_type="refund")
    rows[80] = row("poison", 80, position=70_000)
    event_buffer.push("interaction", rows)

    outcome = drain("interaction", "test-owner")

    assert outcome["inserted"] == 98
    assert outcome["dead_letters"] == 2
    assert stored("events", "event_id LIKE 'poison-%'") == (98, 98)
    total, letters = event_buffer.dead_letters("interaction")
    assert total == 2
    assert {letter["row"]["event_id"] for letter in letters} == {"poison-37", "poison-80"}
    assert all(letter["reason"] for letter in letters)


def test_undecodable_row_dead_lettered(scheduled):
    event_buffer.push("interaction", [row("garbled", i) for i in range(10)])
    numeric_id = event_buffer.encode_row("interaction", row("garbled", 99)).replace(b'"garbled-99"', b"99")
    clients.redis_client().rpush(event_buffer.buffer_key("interaction"), b'1],["x"', b"not json", numeric_id)

    outcome = drain("interaction", "test-owner")

    assert outcome["inserted"] == 10
    assert outcome["dead_letters"] == 3
    total, letters = event_buffer.dead_letters("interaction")
    assert total == 3
    assert {letter["row"] for letter in letters if isinstance(letter["row"], str)} == {'1],["x"', "not json"}
    assert [letter["row"]["event_id"] for letter in letters if isinstance(letter["row"], dict)] == [99]


def test_search_events_inserted(scheduled):
    rows = [search_row(f"search-{i}") | {"timestamp": NOW, "received_at": NOW} for i in range(20)]
    event_buffer.push("search", rows)

    outcome = drain("search", "test-owner")

    assert outcome["inserted"] == 20
    assert stored("search_events", "event_id LIKE 'search-%'") == (20, 20)
    client = clients.clickhouse(clients.TASK)
    (names,), = client.execute("SELECT filter_names FROM search_events WHERE event_id = 'search-3'", tag="test")
    assert names == ["brand"]


def test_purge_user_deletes_rows(scheduled):
    event_buffer.push("interaction", [row("purge", i, user_id="user-a" if i % 2 else "user-b")
                                      for i in range(40)])
    event_buffer.push("search", [search_row("purge-s1") | {"timestamp": NOW, "user_id": "user-a"}])
    drain("interaction", "test-owner")
    drain("search", "test-owner")

    tables = events.purge(user_id="user-a", tag="test")

    assert {"events", "search_events"} <= set(tables)
    wait_for(lambda: not events.pending_mutations(tag="test"), message="purge mutations")
    assert stored("events", "user_id = 'user-a'") == (0, 0)
    assert stored("search_events", "user_id = 'user-a'") == (0, 0)
    assert stored("events", "user_id = 'user-b'") == (20, 20)


def test_purge_needs_one_id():
    with pytest.raises(ValueError):
        events.purge(tag="test")
    with pytest.raises(ValueError):
        events.purge(session_id="s", user_id="u", tag="test")
