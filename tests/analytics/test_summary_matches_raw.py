"""Every analytics read returns the same figures from the summary tables as from raw events."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from storage.analytics import queries, refresh
from storage.analytics.queries import PRODUCT_METRICS
from tests.analytics.generated import PRODUCTS, EventSet

# Three days around the end of European summer time (2026-10-25).
START = datetime(2026, 10, 24)
SUMMARIZED_END = START + timedelta(days=2)
END = START + timedelta(days=3)

RANGES = {
    "everything": (START - timedelta(hours=1), END + timedelta(hours=30)),
    "unaligned": (START + timedelta(hours=5, minutes=17, seconds=3), START + timedelta(days=1, hours=13, minutes=45)),
    "into_raw_tail": (START + timedelta(days=1, hours=20, minutes=30), START + timedelta(days=2, hours=13, minutes=45)),
    "one_day": (START + timedelta(days=1), START + timedelta(days=2)),
}
SERIES = [
    ("hour", "UTC"), ("day", "UTC"), ("day", "Europe/Berlin"), ("hour", "Europe/Berlin"),
    ("hour", "America/New_York"), ("hour", "Asia/Kolkata"), ("day", "Asia/Kolkata"), ("week", "UTC"),
    ("month", "Europe/Berlin"),
]


@pytest.fixture(scope="module")
def readers(analytics_settings):
    from storage.clickhouse import ClickHouse
    from tests.analytics.conftest import RAW_TABLES
    from storage.analytics.tables import REFRESH_RUNS_TABLE, SUMMARY_TABLES

    client = ClickHouse(analytics_settings, timeout=300)
    for table in RAW_TABLES + SUMMARY_TABLES + (REFRESH_RUNS_TABLE,):
        client.execute(f"TRUNCATE TABLE {table}", tag="tests.analytics")
    EventSet(seed=20261025, start=START, days=3, sessions=1500).insert(client)

    # The first two days are summarized (hours and days), the third stays raw.
    refresh.rebuild_range(client, START, SUMMARIZED_END, tag="tests.analytics")
    yield queries.Reader(client), queries.Reader(client, mode=queries.RAW)
    client.disconnect()


def both(readers, read):
    summary_reader, raw_reader = readers
    return read(summary_reader), read(raw_reader)


@pytest.mark.parametrize("name", RANGES)
def test_plans_mix_summary_and_raw(readers, name):
    start, end = RANGES[name]
    plan = readers[0].plan(start, end)
    assert plan.periods
    if name != "one_day":
        # Partial edge hours or the unsummarized third day come from raw events.
        assert plan.raw_ranges
    assert queries.search_summary(readers[1], start, end)["searches"] > 100


@pytest.mark.parametrize("name", RANGES)
def test_search_reads_match(readers, name):
    start, end = RANGES[name]
    reads = {
        "summary": lambda reader: queries.search_summary(reader, start, end),
        "popular": lambda reader: queries.popular_queries(reader, start, end, limit=1000),
        "zero_results": lambda reader: queries.zero_result_queries(reader, start, end, limit=1000),
        "no_clicks": lambda reader: queries.no_click_queries(reader, start, end, limit=1000),
        "click_positions": lambda reader: queries.click_positions(reader, start, end, limit=1000),
        "filters": lambda reader: queries.filter_usage(reader, start, end, limit=1000),
        "zero_filters": lambda reader: queries.filter_usage(reader, start, end, limit=1000, zero_results_only=True),
    }
    for read_name, read in reads.items():
        from_summary, from_raw = both(readers, read)
        assert from_summary == from_raw, read_name
        assert from_raw, read_name


@pytest.mark.parametrize("interval,tz", SERIES)
def test_search_series_match(readers, interval, tz):
    start, end = RANGES["everything"]
    from_summary, from_raw = both(readers, lambda reader: queries.search_timeseries(
        reader, start, end, interval=interval, tz=tz))
    assert from_summary == from_raw
    assert sum(bucket["searches"] for bucket in from_raw) == queries.search_summary(readers[1], start, end)["searches"]


def test_minute_series_match(readers):
    start, end = START + timedelta(days=1, hours=3, minutes=10), START + timedelta(days=1, hours=9)
    from_summary, from_raw = both(readers, lambda reader: queries.search_timeseries(
        reader, start, end, interval="minute", tz="UTC"))
    assert from_summary == from_raw
    assert len(from_raw) == 350


@pytest.mark.parametrize("name", RANGES)
def test_product_reads_match(readers, name):
    start, end = RANGES[name]
    for metric in PRODUCT_METRICS:
        from_summary, from_raw = both(readers, lambda reader: queries.top_products(
            reader, start, end, metric=metric, limit=1000))
        assert from_summary == from_raw, metric
    for currency in ("EUR", "USD"):
        from_summary, from_raw = both(readers, lambda reader: queries.top_products(
            reader, start, end, metric="revenue", limit=1000, currency=currency))
        assert from_summary == from_raw, currency
    for product_id in PRODUCTS[:5] + ["unknown-product"]:
        from_summary, from_raw = both(readers, lambda reader: queries.product_funnel(reader, start, end, product_id))
        assert from_summary == from_raw, product_id
    from_summary, from_raw = both(readers, lambda reader: queries.category_funnels(reader, start, end, limit=1000))
    assert from_summary == from_raw


@pytest.mark.parametrize("interval,tz", [("hour", "UTC"), ("day", "Europe/Berlin"), ("hour", "Asia/Kolkata")])
def test_product_series_match(readers, interval, tz):
    start, end = RANGES["everything"]
    from_summary, from_raw = both(readers, lambda reader: queries.product_timeseries(
        reader, start, end, PRODUCTS[0], interval=interval, tz=tz))
    assert from_summary == from_raw
