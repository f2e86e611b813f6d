"""Benchmark the analytics endpoints on 10 million events: summary tables against raw events.

Generates 10,000,000 events over 30 days in a ClickHouse database of its own:
2.5 million search rows whose queries are drawn with the popularity of
queries.csv, clicks, add-to-carts and purchases on the clicked products, and
views to make up the rest. It summarizes them with the service's own rebuild
(hour and day periods, the last hour left raw). Then it measures each
endpoint's p50 and p95 over a 30-day range with unaligned edges through the
Flask app (summary tables plus raw tail), and computes the same figures with
the raw reference reader (all from raw events) in the same run. The database
is kept, so a second run skips generating and summarizing (--regenerate
forces both).

    .venv/bin/python bench/bench_analytics.py [--runs 30] [--raw-runs 1] [--regenerate]

A raw computation of a search endpoint takes about a minute at this size on
2 cores, so --raw-runs defaults to 1. It needs the local services
(scripts/services.sh start).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from config import load_settings  # noqa: E402
from storage import clients, migrations  # noqa: E402
from storage.analytics import queries, refresh  # noqa: E402
from storage.analytics.periods import floor_day  # noqa: E402
from storage.clickhouse import ClickHouse  # noqa: E402

QUERIES = ROOT.parent / "shared" / "datasets" / "algolia-bestbuy-query-suggestions" / "queries.csv"
DATABASE = "bench_analytics"
TOTAL_EVENTS = 10_000_000
SEARCH_ROWS = 2_500_000
SESSIONS = SEARCH_ROWS // 4
PRODUCTS = 20_000
DAYS = 30
# The end of the 30 days left unsummarized, so reads include a raw tail: the
# open hour that the every-minute refresh has not summarized yet.
RAW_TAIL = timedelta(hours=1)
GENERATION_LIMITS = {"max_execution_time": 1800, "max_memory_usage": 8_000_000_000}
EVENT_TYPE = "Enum8('view' = 1, 'click' = 2, 'add_to_cart' = 3, 'purchase' = 4)"


def query_pool() -> list[str]:
    """Queries repeated in proportion to their popularity; those with popularity 0 once each."""
    pool = []
    with open(QUERIES, encoding="utf-8") as source:
        for row in csv.DictReader(source):
            query = row["query"].strip().lower()
            pool.extend([query] * max(1, 5 * int(row["popularity"])))
    return pool


# One search row per number: 4 per session, 20 s apart. In 1 session of 10 the
# first search is the 3-letter prefix of the second (type-ahead noise).
# The driver formats parameters with Python's % operator, and that would clash
# with SQL's modulo, so these trusted numbers are written into the SQL text.
def _search_base(params: dict) -> str:
    return f"""
    SELECT number AS n, intDiv(number, 4) AS session, number % 4 AS pos, cityHash64(number) AS h,
        cityHash64(number, 'c') AS c,
        toDateTime('{params["base"]:%Y-%m-%d %H:%M:%S}')
            + toUInt32(intDiv(number, 4) * {params["span"]} / {params["sessions"]}) + pos * 20 AS ts,
        cityHash64(intDiv(number, 4), 't') % 10 = 0 AS typeahead,
        toUInt64(cityHash64(if(typeahead AND pos = 0, number + 1, number), 'q') % {params["pool"]}) AS pick,
        if(h % 20 = 0, 0, 1 + h % 500) AS result_total
    FROM numbers({params["count"]})"""


def generate_searches(client: ClickHouse, params: dict) -> None:
    client.execute(f"""
        INSERT INTO search_events
        SELECT concat('se', toString(n)), concat('q', toString(n)), ts, toUInt64(ts) * 1000 + h % 1000, ts,
            search_query, search_query,
            if(h % 5 = 0, concat('{{"brand": ["', brand, '"]}}'), '{{}}'),
            if(h % 5 = 0, ['brand'], emptyArrayString()), if(h % 5 = 0, [brand], emptyArrayString()),
            'relevance', 1, 20, result_total, toUInt32(5 + h % 97 + (h % 13) * (h % 7)),
            concat('s', toString(session)), concat('u', toString(session % 50000))
        FROM
        (
            SELECT n, session, h, ts, result_total,
                if(typeahead AND pos = 0, substring(pool_query, 1, 3), pool_query) AS search_query,
                arrayElement(['acme', 'globex', 'initech', 'umbrella', 'hooli'], 1 + h % 31 % 5) AS brand
            FROM ({_search_base(params)})
            ANY LEFT JOIN (SELECT idx AS pick, query AS pool_query FROM bench_query_pool) USING pick
        )""", tag="bench.generate", settings=GENERATION_LIMITS)


def generate_interactions(client: ClickHouse, params: dict, event_type: str, share: int, delay: int) -> None:
    """Events on the product clicked from a search: `share` percent of the searches with results."""
    purchase = event_type == "purchase"
    quantity = "1 + c % 3" if purchase else "0"
    if event_type == "add_to_cart":
        quantity = "1"
    client.execute(f"""
        INSERT INTO events
        SELECT concat('{event_type[:2]}', toString(n)), CAST('{event_type}' AS {EVENT_TYPE}), at, at,
            concat('p', toString(c % {PRODUCTS})), concat('s', toString(session)),
            concat('u', toString(session % 50000)), {"concat('q', toString(n))" if event_type == "click" else "''"},
            toUInt16({"20 - floor(sqrt(c % 400))" if event_type == "click" else "0"}),
            toUInt32({quantity}),
            {"toDecimal128(99 + c % 200000, 4) / 100" if event_type != "click" else "toDecimal128(0, 4)"},
            {"if(c % 10 < 7, 'EUR', 'USD')" if event_type != "click" else "''"},
            {"concat('o', toString(n))" if purchase else "''"}
        FROM
        (
            SELECT n, session, c, ts + 3 + c % 15 + {delay} AS at
            FROM ({_search_base(params)})
            WHERE result_total > 0 AND c % 100 < {share}
        )""", tag="bench.generate", settings=GENERATION_LIMITS)


def generate_views(client: ClickHouse, params: dict, count: int) -> None:
    client.execute(f"""
        INSERT INTO events
        SELECT concat('vw', toString(number)), CAST('view' AS {EVENT_TYPE}), at, at,
            concat('p', toString(cityHash64(number, 'p') % {PRODUCTS})),
            concat('s', toString(cityHash64(number, 's') % {params["sessions"]})), '', '', toUInt16(0), toUInt32(0),
            toDecimal128(0, 4), '', ''
        FROM
        (
            SELECT number, toDateTime('{params["base"]:%Y-%m-%d %H:%M:%S}')
                + toUInt32(cityHash64(number, 't') % {params["span"]}) AS at
            FROM numbers({count})
        )""", tag="bench.generate", settings=GENERATION_LIMITS)


def generate_catalog(client: ClickHouse) -> None:
    client.execute(f"""INSERT INTO products (id, name, category_id, version, deleted)
        SELECT concat('p', toString(number)), concat('product ', toString(number)),
            concat('c', toString(number % 200)), 1, 0 FROM numbers({PRODUCTS})""", tag="bench.generate")
    client.execute("""INSERT INTO categories (id, name, parent_id, version, deleted)
        SELECT concat('c', toString(number)), concat('category ', toString(number)),
            if(number < 20, '', concat('c', toString(number % 20))), 1, 0 FROM numbers(200)""", tag="bench.generate")


def generate(client: ClickHouse, base: datetime) -> None:
    started = time.perf_counter()
    pool = query_pool()
    client.execute("CREATE TABLE IF NOT EXISTS bench_query_pool (idx UInt64, query String) ENGINE = MergeTree ORDER BY idx",
                   tag="bench.generate")
    client.insert("bench_query_pool", ("idx", "query"), list(enumerate(pool)), tag="bench.generate")
    params = {"base": base, "span": DAYS * 86400 - 3600, "sessions": SESSIONS, "pool": len(pool),
              "count": SEARCH_ROWS}

    generate_searches(client, params)
    for event_type, share, delay in (("click", 45, 0), ("add_to_cart", 12, 60), ("purchase", 5, 300)):
        generate_interactions(client, params, event_type, share, delay)
    so_far = client.execute("SELECT count() FROM events", tag="bench.generate")[0][0] + SEARCH_ROWS
    generate_views(client, params, TOTAL_EVENTS - so_far)
    generate_catalog(client)
    client.execute("CREATE TABLE IF NOT EXISTS bench_meta (base DateTime, events UInt64) ENGINE = TinyLog",
                   tag="bench.generate")
    client.insert("bench_meta", ("base", "events"), [(base, TOTAL_EVENTS)], tag="bench.generate")
    print(f"generated {TOTAL_EVENTS:,} events from {base:%Y-%m-%d} in {time.perf_counter() - started:.0f} s "
          f"({len(pool):,} pool entries from {QUERIES.name})", flush=True)


def existing_base(client: ClickHouse) -> datetime | None:
    tables = {row[0] for row in client.execute("SHOW TABLES", tag="bench")}
    if "bench_meta" not in tables:
        return None
    rows = client.execute("SELECT base, events FROM bench_meta", tag="bench")
    counted = client.execute("SELECT (SELECT count() FROM events) + (SELECT count() FROM search_events)",
                             tag="bench")[0][0]
    if not rows or rows[0][1] != TOTAL_EVENTS or counted != TOTAL_EVENTS:
        return None
    return rows[0][0].replace(tzinfo=None)


def summarize(client: ClickHouse, base: datetime) -> None:
    """Summarize the hours not summarized yet up to the raw tail, then roll up complete days."""
    summarized_end = base + timedelta(days=DAYS) - RAW_TAIL
    last, count = client.execute(
        "SELECT max(period_start), count() FROM analytics_periods WHERE period_hours = 1", tag="bench")[0]
    first = last.replace(tzinfo=None) + timedelta(hours=1) if count else base
    if first >= summarized_end:
        return
    started = time.perf_counter()
    hours = refresh.rebuild_hours(client, first, summarized_end, tag="bench.rebuild")
    days = refresh.rollup_days(client, base, summarized_end, only_missing=True, tag="bench.rebuild")
    refresh.compact(client, tag="bench.compact")
    print(f"summarized {len(hours)} hours and {len(days)} days in {time.perf_counter() - started:.0f} s", flush=True)


def endpoints(start: datetime, end: datetime) -> list[tuple[str, str, dict, object]]:
    """(name, path, extra query parameters, raw reference) of every analytics read measured."""
    def series(interval, tz):
        return lambda r: {"interval": interval, "tz": tz,
                          "buckets": queries.search_timeseries(r, start, end, interval=interval, tz=tz)}

    def listing(read, **kwargs):
        return lambda r: {"limit": 100, "offset": 0, **kwargs.pop("extra", {}),
                          "items": read(r, start, end, limit=100, offset=0, **kwargs)}

    return [
        ("search/summary", "/search/summary", {}, lambda r: queries.search_summary(r, start, end)),
        ("search/popular", "/search/popular", {"limit": 100}, listing(queries.popular_queries)),
        ("search/zero-results", "/search/zero-results", {"limit": 100}, listing(queries.zero_result_queries)),
        ("search/no-clicks", "/search/no-clicks", {"limit": 100}, listing(queries.no_click_queries)),
        ("search/click-positions", "/search/click-positions", {"limit": 100}, listing(queries.click_positions)),
        ("search/filters", "/search/filters", {"limit": 100}, listing(queries.filter_usage)),
        ("search/timeseries day Berlin", "/search/timeseries", {"interval": "day", "tz": "Europe/Berlin"},
         series("day", "Europe/Berlin")),
        ("search/timeseries hour UTC", "/search/timeseries", {"interval": "hour", "tz": "UTC"}, series("hour", "UTC")),
        ("products/top views", "/products/top", {"metric": "views", "limit": 100},
         listing(queries.top_products, metric="views", extra={"metric": "views"})),
        ("products/top revenue", "/products/top", {"metric": "revenue", "limit": 100},
         listing(queries.top_products, metric="revenue", extra={"metric": "revenue"})),
        ("products/{id}", "/products/p7", {}, lambda r: {"product_id": "p7", **queries.product_funnel(r, start, end, "p7")}),
        ("products/{id}/timeseries day", "/products/p7/timeseries", {"interval": "day", "tz": "UTC"},
         lambda r: {"product_id": "p7", "interval": "day", "tz": "UTC",
                    "buckets": queries.product_timeseries(r, start, end, "p7", interval="day", tz="UTC")}),
        ("categories", "/categories", {"limit": 100}, listing(queries.category_funnels)),
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))]


def measure(app, client: ClickHouse, start: datetime, end: datetime, runs: int, raw_runs: int) -> list[dict]:
    http = app.test_client()
    raw_reader = queries.Reader(client, mode=queries.RAW, limits=dict(queries.RAW_LIMITS), tag="bench.raw")
    window = {"from": start.isoformat() + "Z", "to": end.isoformat() + "Z"}
    results = []
    for name, path, extra, reference in endpoints(start, end):
        url = f"/api/v1/analytics{path}"
        timings = []
        for run in range(runs + 2):
            began = time.perf_counter()
            response = http.get(url, query_string={**window, **extra})
            elapsed = (time.perf_counter() - began) * 1000
            if response.status_code != 200:
                raise RuntimeError(f"{url} returned {response.status_code}: {response.get_data(as_text=True)[:300]}")
            if run >= 2:  # the first two requests warm caches and are not counted
                timings.append(elapsed)
        body = response.get_json()

        row = {"endpoint": name, "p50": statistics.median(timings), "p95": percentile(timings, 0.95), "same": None}
        if raw_runs:
            raw_timings = []
            for _ in range(raw_runs):
                began = time.perf_counter()
                expected = reference(raw_reader)
                raw_timings.append((time.perf_counter() - began) * 1000)
            body.pop("from"), body.pop("to")
            row.update(raw_p50=statistics.median(raw_timings), raw_p95=percentile(raw_timings, 0.95),
                       same=json.loads(json.dumps(expected)) == body)
        results.append(row)
        line = f"{name:32} summary p50 {row['p50']:8.1f} ms p95 {row['p95']:8.1f} ms"
        if raw_runs:
            line += (f" | raw p50 {row['raw_p50']:9.1f} ms p95 {row['raw_p95']:9.1f} ms"
                     f" | x{row['raw_p50'] / row['p50']:6.0f} | same figures: {row['same']}")
        print(line, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30, help="timed requests per endpoint (summary)")
    parser.add_argument("--raw-runs", type=int, default=1, help="timed raw reference computations per endpoint")
    parser.add_argument("--regenerate", action="store_true", help="drop and generate the data set again")
    args = parser.parse_args()

    settings = load_settings(clickhouse_db=DATABASE, auth_enabled=False, rate_limits_enabled=False)
    if args.regenerate:
        migrations.drop_database(settings)
    migrations.ensure_database(settings, timeout=60)
    client = ClickHouse(settings, timeout=1800)
    migrations.apply_migrations(client)

    base = existing_base(client)
    if base is None:
        for table in ("search_events", "events", "products", "categories", "analytics_periods"):
            client.execute(f"TRUNCATE TABLE {table}", tag="bench")
        base = floor_day(datetime.utcnow()) - timedelta(days=DAYS + 1)
        generate(client, base)
    summarize(client, base)

    from webapp import create_app

    app = create_app(settings)
    clients.configure(settings)
    # A 30-day range with unaligned edges, compared with raw; then 29 whole
    # summarized days, which the summary tables serve without raw rows.
    passes = [
        (base + timedelta(minutes=30), base + timedelta(days=DAYS, minutes=-10), args.raw_runs),
        (base, base + timedelta(days=DAYS - 1), 0),
    ]
    for start, end, raw_runs in passes:
        plan = queries.Reader(client).plan(start, end)
        print(f"range {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: {sum(p[0] == 24 for p in plan.periods)} "
              f"day periods, {sum(p[0] == 1 for p in plan.periods)} hour periods, {len(plan.raw_ranges)} raw ranges",
              flush=True)
        results = measure(app, client, start, end, args.runs, raw_runs)
        worst = max(row["p95"] for row in results)
        compared = [row["same"] for row in results if row["same"] is not None]
        print(f"slowest summary p95: {worst:.1f} ms; figures compared with raw: {len(compared)}, "
              f"all equal: {all(compared)}", flush=True)


if __name__ == "__main__":
    main()
