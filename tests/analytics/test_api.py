"""The analytics endpoints over HTTP: figures, paging, streams, parameter errors, the refresh task."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta

import pytest

from storage import clients
from storage.analytics import raw
from storage.analytics.tables import PERIODS_TABLE
from tests.analytics.fixtures import DAY, insert_fixed_set
from tests.conftest import wait_for

RANGE = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}


def test_summary_with_previous_period(api):
    insert_fixed_set(clients.clickhouse())
    response = api.get("/api/v1/analytics/search/summary", query_string={**RANGE, "compare": "previous_period"})

    assert response.status_code == 200
    body = response.get_json()
    assert body["from"] == "2026-03-10T00:00:00Z"
    assert body["searches"] == 8
    assert body["attributed"]["revenue"] == {"EUR": "0.3000", "USD": "59.9700"}
    assert body["previous"]["from"] == "2026-03-09T00:00:00Z"
    assert body["previous"]["to"] == "2026-03-10T00:00:00Z"
    assert body["previous"]["searches"] == 0
    assert body["previous"]["click_through_rate"] is None


def test_range_with_offset_is_converted_to_utc(api):
    insert_fixed_set(clients.clickhouse())
    response = api.get("/api/v1/analytics/search/summary",
                       query_string={"from": "2026-03-10T11:00:00+01:00", "to": "2026-03-10T12:00:00+01:00"})
    body = response.get_json()
    assert body["from"] == "2026-03-10T10:00:00Z"
    # 10:00 to 11:00 UTC contains "iphone" (after type-ahead) and "tv".
    assert body["searches"] == 2


def test_default_range_is_last_seven_days(api):
    response = api.get("/api/v1/analytics/search/popular")
    body = response.get_json()
    start = datetime.fromisoformat(body["from"].rstrip("Z"))
    end = datetime.fromisoformat(body["to"].rstrip("Z"))
    assert end - start == timedelta(days=7)
    assert abs(datetime.utcnow() - end) < timedelta(minutes=1)


def test_popular_pages_beyond_first_thousand(api):
    client = clients.clickhouse()
    rows = [raw.search_row(dict(event_id=f"bulk{n}", query_id=f"bulk-q{n}", timestamp=DAY + timedelta(seconds=n),
                                query=f"query {n:05d}", total=1, session_id=f"bulk-s{n}")) for n in range(1205)]
    raw.insert_searches(client, rows)

    response = api.get("/api/v1/analytics/search/popular",
                       query_string={**RANGE, "limit": 1000, "offset": 1000})
    body = response.get_json()
    assert response.status_code == 200
    assert body["offset"] == 1000
    assert len(body["items"]) == 205
    assert body["items"][0]["query"] == "query 01000"


def test_lists_and_funnels(api):
    insert_fixed_set(clients.clickhouse())

    zero = api.get("/api/v1/analytics/search/zero-results", query_string=RANGE).get_json()
    assert [item["query"] for item in zero["items"]] == ["tv"]
    no_clicks = api.get("/api/v1/analytics/search/no-clicks", query_string=RANGE).get_json()
    assert [item["query"] for item in no_clicks["items"]] == ["camera", "ip", "samsung"]
    positions = api.get("/api/v1/analytics/search/click-positions", query_string=RANGE).get_json()
    assert positions["items"][0] == {"position": 1, "clicks": 2}
    filters = api.get("/api/v1/analytics/search/filters", query_string={**RANGE, "zero_results": "true"}).get_json()
    assert [(item["filter"], item["value"]) for item in filters["items"]] == [("brand", "acme")]

    top = api.get("/api/v1/analytics/products/top", query_string={**RANGE, "metric": "revenue"}).get_json()
    assert top["items"][0] == {"product_id": "p-ph", "currency": "USD", "revenue": "59.9700", "units": 3,
                               "purchases": 1}
    funnel = api.get("/api/v1/analytics/products/p-lap1", query_string=RANGE).get_json()
    assert funnel["revenue"] == {"EUR": "0.3000"}
    assert funnel["units"] == 3
    categories = api.get("/api/v1/analytics/categories", query_string=RANGE).get_json()
    assert categories["items"][0]["category_id"] == "electronics"


def test_timeseries_endpoints(api):
    insert_fixed_set(clients.clickhouse())
    series = api.get("/api/v1/analytics/search/timeseries",
                     query_string={**RANGE, "interval": "hour", "tz": "Europe/Berlin"}).get_json()
    assert series["tz"] == "Europe/Berlin"
    assert len(series["buckets"]) == 24
    # The range starts at 01:00 in Berlin, so 11:00 is the eleventh bucket.
    assert series["buckets"][10] == {"start": "2026-03-10T11:00:00+01:00", "searches": 2,
                                     "zero_result_searches": 1, "searches_with_click": 1, "click_through_rate": 1.0}

    product = api.get("/api/v1/analytics/products/p-ph/timeseries",
                      query_string={**RANGE, "interval": "day"}).get_json()
    assert product["buckets"] == [{"start": "2026-03-10T00:00:00+00:00", "views": 0, "clicks": 2,
                                   "add_to_cart": 1, "purchases": 1, "units": 3, "revenue": {"USD": "59.9700"},
                                   "view_to_purchase_rate": None}]


def test_unknown_product_is_404(api):
    response = api.get("/api/v1/analytics/products/no-such-product", query_string=RANGE)
    assert response.status_code == 404
    assert "no-such-product" in response.get_json()["message"]


@pytest.mark.parametrize("path,params,field", [
    ("/search/summary", {"from": "2026-03-11T00:00:00Z", "to": "2026-03-10T00:00:00Z"}, "from"),
    ("/search/summary", {"from": "yesterday"}, "from"),
    ("/search/summary", {"from": "2020-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "from"),
    ("/search/summary", {"compare": "last_year"}, "compare"),
    ("/search/summary", {"to": "0179-04-05T00:59:21+08:47"}, "to"),
    ("/search/summary", {"from": "1969-12-31T00:00:00Z", "to": "1970-01-05T00:00:00Z"}, "from"),
    ("/search/summary", {"from": "2105-12-30T00:00:00Z", "to": "2106-01-02T00:00:00Z"}, "to"),
    ("/search/summary", {"from": "1970-01-03T00:00:00Z", "to": "1970-01-10T00:00:00Z", "compare": "previous_period"},
     "compare"),
    ("/search/log", {"to": "1000-01-01T00:00:00Z"}, "to"),
    ("/search/timeseries", {"tz": "Mars/Olympus"}, "tz"),
    ("/search/timeseries", {"interval": "fortnight"}, "interval"),
    ("/search/timeseries", {**RANGE, "interval": "minute", "from": "2026-03-01T00:00:00Z"}, "interval"),
    ("/products/top", {"metric": "likes"}, "metric"),
    ("/products/top", {"metric": "revenue", "currency": "euro"}, "currency"),
    ("/search/popular", {"limit": 1001}, "limit"),
    ("/search/popular", {"offset": -1}, "offset"),
    ("/search/popular", {"color": "red"}, "color"),
    ("/search/log", {"format": "xml"}, "format"),
])
def test_invalid_parameters_are_422(api, path, params, field):
    response = api.get(f"/api/v1/analytics{path}", query_string=params)

    assert response.status_code == 422
    body = response.get_json()
    assert field in body["errors"]["query"]
    assert body["code"] == 422


def test_search_log_as_json_lines(api):
    insert_fixed_set(clients.clickhouse())
    response = api.get("/api/v1/analytics/search/log", query_string=RANGE)

    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    rows = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(rows) == 11
    laptop = next(row for row in rows if row["query_id"] == "q-lap")
    assert laptop["timestamp"] == "2026-03-10T11:15:00Z"
    assert laptop["clicked_positions"] == [1, 3]
    assert laptop["filters"] == "{}"


def test_search_log_as_csv(api):
    insert_fixed_set(clients.clickhouse())
    response = api.get("/api/v1/analytics/search/log", query_string={**RANGE, "format": "csv", "q": "tv"})

    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [row["query_id"] for row in rows] == ["q-tv", "q-tv"]
    assert rows[0]["total"] == "0"
    assert json.loads(rows[0]["clicked_positions"]) == []


def test_refresh_rejects_reversed_range(api):
    response = api.post("/api/v1/admin/aggregations/refresh",
                        json={"from": "2026-03-11T00:00:00Z", "to": "2026-03-10T00:00:00Z"})
    assert response.status_code == 422
    assert "from" in response.get_json()["errors"]["json"]


def test_refresh_runs_as_task(client, celery_worker, storage_ready):
    response = client.post("/api/v1/admin/aggregations/refresh", json=RANGE)

    assert response.status_code == 202
    task_id = response.get_json()["task_id"]
    state = wait_for(lambda: (client.get(f"/api/v1/tasks/{task_id}").get_json()
                              if client.get(f"/api/v1/tasks/{task_id}").get_json()["state"] in ("SUCCESS", "FAILURE")
                              else None), timeout=120, message="the refresh task to finish")
    assert state["state"] == "SUCCESS"
    assert state["result"]["new_hours"] == 24
    assert state["result"]["days"] == ["2026-03-10"]

    # The worker uses the session's database; the periods are recorded there.
    hours = clients.clickhouse().execute(
        f"SELECT count() FROM {PERIODS_TABLE} WHERE period_hours = 1 AND period_start >= toDateTime(%(day)s) "
        "AND period_start < toDateTime(%(day)s) + 86400", {"day": DAY}, tag="tests.analytics")[0][0]
    assert hours == 24


def test_openapi_documents_analytics(api):
    spec = api.get("/openapi.json").get_json()
    paths = spec["paths"]
    assert "/api/v1/analytics/search/summary" in paths
    assert "/api/v1/analytics/products/{product_id}/timeseries" in paths
    assert "/api/v1/admin/aggregations/refresh" in paths
    parameters = {item["name"] for item in paths["/api/v1/analytics/search/timeseries"]["get"]["parameters"]}
    assert {"from", "to", "interval", "tz", "compare"} <= parameters
