"""Refreshing, rolling up and compacting the summary tables."""

from __future__ import annotations

from datetime import timedelta

from storage import clients
from storage.analytics import locks, queries, raw, refresh
from storage.analytics.periods import floor_hour
from storage.analytics.tables import PERIODS_TABLE, SEARCH
from tests.analytics.fixtures import DAY, insert_fixed_set
from tests.conftest import wait_for

START, END = DAY, DAY + timedelta(days=1)


def _row_count(ch, table: str) -> int:
    return ch.execute(f"SELECT count() FROM {table}", tag="tests.analytics")[0][0]


def test_compact_drops_superseded_generations(ch):
    insert_fixed_set(ch)
    refresh.rebuild_range(ch, START, END, tag="tests.analytics")
    single = _row_count(ch, SEARCH.name)
    refresh.rebuild_range(ch, START, END, tag="tests.analytics")
    assert _row_count(ch, SEARCH.name) == 2 * single

    deleted = refresh.compact(ch, tag="tests.analytics")

    # The 5 hours with searches (10:00 to 14:00) and the day had an older generation.
    assert deleted[SEARCH.name] == 6
    wait_for(lambda: _row_count(ch, SEARCH.name) == single, timeout=60, message="the delete mutation")
    assert queries.search_summary(queries.Reader(ch), START, END)["searches"] == 8


def test_refresh_leaves_open_hour_to_raw_tail(ch):
    now = ch.execute("SELECT now()", tag="tests.analytics")[0][0].replace(tzinfo=None)
    moments = [now - timedelta(hours=3), now - timedelta(seconds=5)]
    raw.insert_searches(ch, [raw.search_row(dict(event_id=f"open{n}", query_id=f"open-q{n}", timestamp=moment,
                                                 query="lamp", total=3, session_id=f"open-s{n}"))
                             for n, moment in enumerate(moments)])

    report = refresh.refresh(ch, tag="tests.analytics")

    closed_end = floor_hour(now - refresh.CLOSE_DELAY)
    assert report.new_hours[0] == floor_hour(moments[0])
    assert report.new_hours[-1] == closed_end - timedelta(hours=1)
    registered = ch.execute(f"SELECT max(period_start) FROM {PERIODS_TABLE}", tag="tests.analytics")[0][0]
    assert registered.replace(tzinfo=None) < floor_hour(now)

    reader = queries.Reader(ch)
    plan = reader.plan(now - timedelta(hours=4), now + timedelta(minutes=1))
    assert plan.periods and plan.raw_ranges
    assert queries.search_summary(reader, now - timedelta(hours=4), now + timedelta(minutes=1))["searches"] == 2


def test_second_refresh_finds_nothing_new(ch):
    insert_fixed_set(ch)
    refresh.refresh(ch, tag="tests.analytics")
    report = refresh.refresh(ch, tag="tests.analytics")
    assert report.late_hours == []
    assert report.days == []


def test_late_purchase_rebuilds_rolled_up_day(ch):
    insert_fixed_set(ch)
    refresh.rebuild_range(ch, START, END, tag="tests.analytics")
    # A first refresh run, so the next one looks for rows received after it.
    refresh.refresh(ch, tag="tests.analytics")
    reader = queries.Reader(ch)
    assert queries.product_funnel(reader, START, END, "p-lap1")["revenue"] == {"EUR": "0.3000"}

    received = ch.execute("SELECT now()", tag="tests.analytics")[0][0].replace(tzinfo=None)
    late = dict(event_id="ev-late-buy", event_type="purchase", timestamp=DAY + timedelta(hours=11, minutes=40),
                product_id="p-lap1", session_id="s3", quantity=1, price="0.05", currency="EUR",
                received_at=received)
    raw.insert_events(ch, [raw.event_row(late)])
    report = refresh.refresh(ch, tag="tests.analytics")

    assert DAY + timedelta(hours=11) in report.late_hours
    assert report.days == [START]
    assert [period[0] for period in reader.plan(START, END).periods] == [24]
    assert queries.product_funnel(reader, START, END, "p-lap1")["revenue"] == {"EUR": "0.3500"}
    assert queries.search_summary(reader, START, END)["attributed"]["revenue"]["EUR"] == "0.3500"


def test_refresh_lock_is_exclusive(configured_redis):
    with locks.exclusive("tests-refresh", 30) as first:
        with locks.exclusive("tests-refresh", 30) as second:
            assert first is True
            assert second is False
    with locks.exclusive("tests-refresh", 30) as again:
        assert again is True
