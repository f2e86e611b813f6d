"""Time-series buckets in local time across daylight-saving changes, hand-computed."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from storage.analytics import buckets, queries, raw, refresh


def test_berlin_spring_day_has_23_hours():
    keys = buckets.bucket_keys(datetime(2026, 3, 28, 23), datetime(2026, 3, 29, 22), "hour", "Europe/Berlin")
    assert len(keys) == 23
    assert buckets.bucket_start_iso(keys[0], "Europe/Berlin") == "2026-03-29T00:00:00+01:00"
    assert buckets.bucket_start_iso(keys[2], "Europe/Berlin") == "2026-03-29T03:00:00+02:00"


def test_new_york_fall_day_has_25_hours():
    keys = buckets.bucket_keys(datetime(2026, 11, 1, 4), datetime(2026, 11, 2, 5), "hour", "America/New_York")
    assert len(keys) == 25
    starts = [buckets.bucket_start_iso(key, "America/New_York") for key in keys[:3]]
    assert starts == ["2026-11-01T00:00:00-04:00", "2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00"]


def test_day_buckets_start_at_local_midnight():
    keys = buckets.bucket_keys(datetime(2026, 3, 28), datetime(2026, 3, 31), "day", "Europe/Berlin")
    assert [buckets.bucket_start_iso(key, "Europe/Berlin") for key in keys] == [
        "2026-03-28T00:00:00+01:00", "2026-03-29T00:00:00+01:00",
        "2026-03-30T00:00:00+02:00", "2026-03-31T00:00:00+02:00",
    ]
    # Midnight CET is 23:00 UTC the day before; midnight CEST is 22:00 UTC.
    assert keys[1] == int(datetime(2026, 3, 28, 23).timestamp() - datetime(1970, 1, 1).timestamp())


def test_week_and_month_keys():
    weeks = buckets.bucket_keys(datetime(2026, 3, 25), datetime(2026, 4, 8), "week", "Europe/Berlin")
    assert weeks == [date(2026, 3, 23), date(2026, 3, 30), date(2026, 4, 6)]
    months = buckets.bucket_keys(datetime(2026, 11, 15), datetime(2027, 2, 1), "month", "America/New_York")
    assert months == [date(2026, 11, 1), date(2026, 12, 1), date(2027, 1, 1)]


def test_too_many_buckets_rejected():
    with pytest.raises(buckets.TooManyBuckets):
        buckets.bucket_keys(datetime(2026, 1, 1), datetime(2026, 1, 3), "minute", "UTC")


def test_half_hour_zone_cannot_use_hourly_summaries():
    assert buckets.whole_hour_offsets(datetime(2026, 3, 1), datetime(2026, 3, 2), "Europe/Berlin")
    assert not buckets.whole_hour_offsets(datetime(2026, 3, 1), datetime(2026, 3, 2), "Asia/Kolkata")
    assert not buckets.zero_offset(datetime(2026, 3, 1), datetime(2026, 3, 2), "Europe/Berlin")
    assert buckets.zero_offset(datetime(2026, 3, 1), datetime(2026, 3, 2), "UTC")


def _search(number: int, moment: datetime) -> tuple:
    return raw.search_row(dict(event_id=f"tz{number}", query_id=f"tzq{number}", timestamp=moment,
                               query=f"query {number}", total=1, session_id=f"tz-s{number}"))


# Searches around the Berlin spring change (UTC times) and the local day each falls on.
BERLIN = [
    (datetime(2026, 3, 28, 22, 30), "2026-03-28"),  # 23:30 CET
    (datetime(2026, 3, 28, 23, 10), "2026-03-29"),  # 00:10 CET
    (datetime(2026, 3, 29, 0, 59), "2026-03-29"),   # 01:59 CET, just before the change
    (datetime(2026, 3, 29, 21, 50), "2026-03-29"),  # 23:50 CEST
    (datetime(2026, 3, 29, 22, 10), "2026-03-30"),  # 00:10 CEST
]
# Searches in the repeated hour of the New York fall change.
NEW_YORK = [datetime(2026, 11, 1, 5, 30), datetime(2026, 11, 1, 6, 30), datetime(2026, 11, 1, 6, 40)]


@pytest.fixture(params=["raw", "summary"])
def dst_reader(request, ch):
    moments = [moment for moment, _day in BERLIN] + NEW_YORK
    raw.insert_searches(ch, [_search(number, moment) for number, moment in enumerate(moments)])
    if request.param == "summary":
        refresh.rebuild_range(ch, datetime(2026, 3, 27), datetime(2026, 3, 31), tag="tests.analytics")
        refresh.rebuild_range(ch, datetime(2026, 10, 31), datetime(2026, 11, 3), tag="tests.analytics")
    return queries.Reader(ch, mode=request.param)


def test_berlin_days_across_spring_change(dst_reader):
    series = queries.search_timeseries(dst_reader, datetime(2026, 3, 28), datetime(2026, 3, 31),
                                       interval="day", tz="Europe/Berlin")
    assert [(row["start"], row["searches"]) for row in series] == [
        ("2026-03-28T00:00:00+01:00", 1), ("2026-03-29T00:00:00+01:00", 3),
        ("2026-03-30T00:00:00+02:00", 1), ("2026-03-31T00:00:00+02:00", 0),
    ]


def test_berlin_hours_skip_the_missing_hour(dst_reader):
    series = queries.search_timeseries(dst_reader, datetime(2026, 3, 28, 23), datetime(2026, 3, 29, 22),
                                       interval="hour", tz="Europe/Berlin")
    assert len(series) == 23
    counted = [(row["start"], row["searches"]) for row in series if row["searches"]]
    assert counted == [("2026-03-29T00:00:00+01:00", 1), ("2026-03-29T01:00:00+01:00", 1),
                       ("2026-03-29T23:00:00+02:00", 1)]


def test_new_york_repeated_hour_is_two_buckets(dst_reader):
    series = queries.search_timeseries(dst_reader, datetime(2026, 11, 1, 4), datetime(2026, 11, 2, 5),
                                       interval="hour", tz="America/New_York")
    assert len(series) == 25
    counted = [(row["start"], row["searches"]) for row in series if row["searches"]]
    assert counted == [("2026-11-01T01:00:00-04:00", 1), ("2026-11-01T01:00:00-05:00", 2)]

    days = queries.search_timeseries(dst_reader, datetime(2026, 11, 1, 4), datetime(2026, 11, 3, 5),
                                     interval="day", tz="America/New_York")
    assert [(row["start"], row["searches"]) for row in days] == [
        ("2026-11-01T00:00:00-04:00", 3), ("2026-11-02T00:00:00-05:00", 0),
    ]


def test_kolkata_hours_start_at_half_past(dst_reader):
    series = queries.search_timeseries(dst_reader, datetime(2026, 3, 28, 22), datetime(2026, 3, 29, 1),
                                       interval="hour", tz="Asia/Kolkata")
    # 22:30 UTC is 04:00 IST, 23:10 UTC is 04:40 IST, 00:59 UTC is 06:29 IST.
    assert [(row["start"], row["searches"]) for row in series] == [
        ("2026-03-29T03:00:00+05:30", 0), ("2026-03-29T04:00:00+05:30", 2),
        ("2026-03-29T05:00:00+05:30", 0), ("2026-03-29T06:00:00+05:30", 1),
    ]
