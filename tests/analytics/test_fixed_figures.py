"""Hand-computed figures of a fixed event set, read from raw events and from the summary tables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from storage.analytics import queries, refresh
from storage.analytics.search_log import iter_search_log
from tests.analytics.fixtures import DAY, at, insert_fixed_set
from storage.analytics import raw

START, END = DAY, DAY + timedelta(days=1)


@pytest.fixture(params=["raw", "summary"])
def reader(request, ch):
    insert_fixed_set(ch)
    if request.param == "summary":
        refresh.rebuild_range(ch, START, END, tag="tests.analytics")
        plan = queries.Reader(ch).plan(START, END)
        # The whole day comes from its day period, no raw range.
        assert [period[:2] for period in plan.periods] == [(24, START)]
        assert plan.raw_ranges == []
    return queries.Reader(ch, mode=request.param)


def test_summary_figures(reader):
    summary = queries.search_summary(reader, START, END)

    assert summary["searches"] == 8
    assert summary["unique_queries"] == 7
    assert summary["zero_result_searches"] == 1
    assert summary["zero_result_rate"] == 1 / 8
    assert summary["searches_with_results"] == 7
    assert summary["searches_with_click"] == 4
    assert summary["click_through_rate"] == 4 / 7
    assert summary["no_click_rate"] == 4 / 8
    assert summary["clicks"] == 5
    assert summary["mean_click_position"] == 12 / 5
    assert summary["latency_ms"] == {"p50": 20, "p95": 50, "p99": 50}
    assert summary["add_to_cart_rate"] == 2 / 8
    assert summary["purchase_rate"] == 2 / 8
    assert summary["attributed"] == {
        "add_to_cart": 2, "purchases": 3, "units": 6, "revenue": {"EUR": "0.3000", "USD": "59.9700"},
    }


def test_query_lists(reader):
    popular = queries.popular_queries(reader, START, END, limit=100)
    assert [(row["query"], row["searches"]) for row in popular] == [
        ("iphone", 2), ("camera", 1), ("ip", 1), ("laptop", 1), ("sam", 1), ("samsung", 1), ("tv", 1),
    ]
    assert popular[0]["click_through_rate"] == 1.0
    assert popular[0]["add_to_cart_rate"] == 0.5

    zero = queries.zero_result_queries(reader, START, END, limit=100)
    assert [(row["query"], row["zero_result_searches"]) for row in zero] == [("tv", 1)]

    no_clicks = queries.no_click_queries(reader, START, END, limit=100)
    assert [(row["query"], row["searches_without_click"]) for row in no_clicks] == [
        ("camera", 1), ("ip", 1), ("samsung", 1),
    ]


def test_query_list_paging(reader):
    second_page = queries.popular_queries(reader, START, END, limit=2, offset=2)
    assert [row["query"] for row in second_page] == ["ip", "laptop"]


def test_click_positions_and_filters(reader):
    positions = queries.click_positions(reader, START, END, limit=100)
    assert positions == [{"position": 1, "clicks": 2}, {"position": 2, "clicks": 1},
                         {"position": 3, "clicks": 1}, {"position": 5, "clicks": 1}]

    filters = queries.filter_usage(reader, START, END, limit=100)
    assert [(row["filter"], row["value"], row["searches"], row["zero_result_searches"]) for row in filters] == [
        ("brand", "acme", 1, 1), ("brand", "apple", 1, 0),
    ]
    zero_only = queries.filter_usage(reader, START, END, limit=100, zero_results_only=True)
    assert [row["value"] for row in zero_only] == ["acme"]


def test_hourly_series_utc(reader):
    series = queries.search_timeseries(reader, at(9), at(15), interval="hour", tz="UTC")
    assert [row["start"] for row in series] == [f"2026-03-10T{hour:02d}:00:00+00:00" for hour in range(9, 15)]
    assert [row["searches"] for row in series] == [0, 2, 1, 1, 2, 2]


def test_product_funnels(reader):
    laptop = queries.product_funnel(reader, START, END, "p-lap1")
    assert laptop == {"views": 2, "clicks": 1, "add_to_cart": 1, "purchases": 2, "units": 3,
                      "revenue": {"EUR": "0.3000"}, "view_to_purchase_rate": 1.0}

    phone = queries.product_funnel(reader, START, END, "p-ph")
    assert phone["clicks"] == 2
    assert phone["revenue"] == {"USD": "59.9700"}
    assert phone["view_to_purchase_rate"] is None

    by_clicks = queries.top_products(reader, START, END, metric="clicks", limit=10)
    assert [(row["product_id"], row["clicks"]) for row in by_clicks[:4]] == [
        ("p-ph", 2), ("p-lap1", 1), ("p-lap2", 1), ("p-sam", 1),
    ]
    by_revenue = queries.top_products(reader, START, END, metric="revenue", limit=10, currency="EUR")
    assert [(row["product_id"], row["revenue"]) for row in by_revenue] == [
        ("p-cam", "5.0000"), ("p-other", "5.0000"), ("p-lap1", "0.3000"),
    ]


def test_categories_roll_up_to_ancestors(reader):
    rows = {row["category_id"]: row for row in queries.category_funnels(reader, START, END, limit=100)}
    assert set(rows) == {"electronics", "computers", "phones", None}

    assert rows["electronics"]["clicks"] == 5
    assert rows["electronics"]["purchases"] == 3
    assert rows["electronics"]["revenue"] == {"EUR": "0.3000", "USD": "59.9700"}
    assert rows["electronics"]["own"]["clicks"] == 0
    assert rows["computers"]["views"] == 2
    assert rows["computers"]["parent_id"] == "electronics"
    assert rows["phones"]["clicks"] == 3
    assert rows[None]["purchases"] == 2
    assert rows[None]["revenue"] == {"EUR": "10.0000"}

    ordered = [row["category_id"] for row in queries.category_funnels(reader, START, END, limit=100)]
    assert ordered == ["electronics", "computers", None, "phones"]


def test_search_log_rows(ch):
    insert_fixed_set(ch)
    rows = list(iter_search_log(ch, START, END))

    assert len(rows) == 11
    laptop = next(row for row in rows if row["query_id"] == "q-lap")
    assert laptop["clicks"] == 2
    assert laptop["clicked_positions"] == [1, 3]
    assert laptop["clicked_product_ids"] == ["p-lap1", "p-lap2"]
    assert [row["query_id"] for row in rows[:3]] == ["q-typ1", "q-typ2", "q-typ3"]
    assert len(list(iter_search_log(ch, START, END, query="tv"))) == 2
    assert len(list(iter_search_log(ch, START, END, limit=4))) == 4


def test_late_click_reaches_summary_on_refresh(ch):
    insert_fixed_set(ch)
    refresh.refresh(ch, tag="tests.analytics")
    reader = queries.Reader(ch)
    assert queries.search_summary(reader, START, END)["searches_with_click"] == 4

    late = dict(event_id="ev-late", event_type="click", timestamp=at(12, 3), product_id="p-cam",
                session_id="s4", query_id="q-cam", position=4)
    raw.insert_events(ch, [raw.event_row({**late, "received_at": ch.execute("SELECT now()", tag="t")[0][0]})])
    report = refresh.refresh(ch, tag="tests.analytics")

    assert at(12) in report.late_hours
    summary = queries.search_summary(reader, START, END)
    assert summary["searches_with_click"] == 5
    assert summary["clicks"] == 6
    assert summary["mean_click_position"] == 16 / 6
