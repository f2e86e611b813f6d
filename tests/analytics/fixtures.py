"""A small fixed event set whose figures are computed by hand in the tests."""

from __future__ import annotations

from datetime import datetime, timedelta

from storage.analytics import raw

DAY = datetime(2026, 3, 10)


def at(hour: int, minute: int = 0, second: float = 0.0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute, seconds=second)


SEARCHES = [
    # Session s1 types "ip", "iph", "iphone" within 5 s: only "iphone" counts.
    dict(event_id="se1", query_id="q-typ1", timestamp=at(10, 0, 0.0), query="ip", total=40, took_ms=12, session_id="s1"),
    dict(event_id="se2", query_id="q-typ2", timestamp=at(10, 0, 2.5), query="iph", total=30, took_ms=14,
         session_id="s1", filter_names=["brand"], filter_values=["apple"]),
    dict(event_id="se3", query_id="q-typ3", timestamp=at(10, 0, 5.0), query="iphone", total=25, took_ms=16,
         session_id="s1", filter_names=["brand"], filter_values=["apple"]),
    # A zero-result search sent twice (same query_id, a new event_id): one search.
    dict(event_id="se4", query_id="q-tv", timestamp=at(10, 30), query="tv", total=0, took_ms=50,
         session_id="s2", filter_names=["brand"], filter_values=["acme"]),
    dict(event_id="se5", query_id="q-tv", timestamp=at(10, 30, 1), query="tv", total=0, took_ms=70,
         session_id="s2", filter_names=["brand"], filter_values=["acme"]),
    dict(event_id="se6", query_id="q-lap", timestamp=at(11, 15), query="laptop", total=100, took_ms=20, session_id="s3"),
    dict(event_id="se7", query_id="q-cam", timestamp=at(12, 0), query="camera", total=10, took_ms=30, session_id="s4"),
    # "ip" then "iphone" 60 s later: too slow for type-ahead, both count.
    dict(event_id="se8", query_id="q-ip", timestamp=at(13, 0), query="ip", total=40, took_ms=10, session_id="s5"),
    dict(event_id="se9", query_id="q-iphone2", timestamp=at(13, 1), query="iphone", total=25, took_ms=18, session_id="s5"),
    # "sam" got a click before "samsung" came 10 s later, so it still counts.
    dict(event_id="se10", query_id="q-sam", timestamp=at(14, 0), query="sam", total=8, took_ms=22, session_id="s6"),
    dict(event_id="se11", query_id="q-samsung", timestamp=at(14, 0, 10), query="samsung", total=12, took_ms=24,
         session_id="s6"),
]

EVENTS = [
    dict(event_id="ev1", event_type="click", timestamp=at(10, 1), product_id="p-ph", session_id="s1",
         query_id="q-typ3", position=1),
    dict(event_id="ev2", event_type="purchase", timestamp=at(10, 5), product_id="p-ph", session_id="s1",
         quantity=3, price="19.99", currency="USD", order_id="o-usd"),
    dict(event_id="ev3", event_type="view", timestamp=at(11, 16), product_id="p-lap1", session_id="s3"),
    dict(event_id="ev4", event_type="view", timestamp=at(11, 17), product_id="p-lap1", session_id="s3"),
    dict(event_id="ev5", event_type="click", timestamp=at(11, 16), product_id="p-lap1", session_id="s3",
         query_id="q-lap", position=1),
    dict(event_id="ev6", event_type="click", timestamp=at(11, 18), product_id="p-lap2", session_id="s3",
         query_id="q-lap", position=3),
    dict(event_id="ev7", event_type="add_to_cart", timestamp=at(11, 20), product_id="p-lap1", session_id="s3",
         quantity=1, price="0.1", currency="EUR"),
    # Two purchases of 0.1 EUR: 0.1 + 0.2 is 0.30000000000000004 in floats.
    dict(event_id="ev8", event_type="purchase", timestamp=at(11, 25), product_id="p-lap1", session_id="s3",
         quantity=1, price="0.1", currency="EUR", order_id="o1"),
    dict(event_id="ev9", event_type="purchase", timestamp=at(11, 26), product_id="p-lap1", session_id="s3",
         quantity=2, price="0.1", currency="EUR", order_id="o2"),
    # A purchase after a search without a click: not attributed to search.
    dict(event_id="ev10", event_type="purchase", timestamp=at(12, 10), product_id="p-cam", session_id="s4",
         quantity=1, price="5", currency="EUR", order_id="o3"),
    dict(event_id="ev11", event_type="click", timestamp=at(13, 2), product_id="p-ph", session_id="s5",
         query_id="q-iphone2", position=2),
    dict(event_id="ev12", event_type="add_to_cart", timestamp=at(13, 5), product_id="p-ph", session_id="s5",
         quantity=1, price="19.99", currency="USD"),
    dict(event_id="ev13", event_type="click", timestamp=at(14, 0, 5), product_id="p-sam", session_id="s6",
         query_id="q-sam", position=5),
    dict(event_id="ev14", event_type="purchase", timestamp=at(15, 0), product_id="p-other", session_id="s7",
         quantity=1, price="5", currency="EUR", order_id="o4"),
]

CATEGORIES = [("electronics", "Electronics", ""), ("phones", "Phones", "electronics"),
              ("computers", "Computers", "electronics")]
PRODUCTS = [("p-ph", "phones"), ("p-sam", "phones"), ("p-lap1", "computers"), ("p-lap2", "computers")]


def insert_fixed_set(client) -> None:
    raw.insert_searches(client, [raw.search_row(row) for row in SEARCHES])
    raw.insert_events(client, [raw.event_row(row) for row in EVENTS])
    client.insert("categories", ("id", "name", "parent_id", "version", "deleted"),
                  [(cid, name, parent, 1, 0) for cid, name, parent in CATEGORIES], tag="tests.analytics")
    client.insert("products", ("id", "name", "category_id", "version", "deleted"),
                  [(pid, pid, cid, 1, 0) for pid, cid in PRODUCTS], tag="tests.analytics")
