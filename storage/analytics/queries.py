"""The analytics reads behind the /api/v1/analytics endpoints.

Each function reads one endpoint's figures for [start, end) (naive UTC)
through a Reader. A Reader in "summary" mode serves whole periods from the
summary tables and the rest from raw events. In "raw" mode it computes all
of it from raw events, and the summary must equal that reference.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from storage.analytics import buckets
from storage.analytics.periods import Plan, naive_utc, plan_range, raw_plan, registry_bounds, registry_sql
from storage.analytics.sources import Params
from storage.analytics.tables import (
    ATTRIBUTED, CLICK_POSITIONS, FILTERS, LATENCY, PRODUCTS, SEARCH, SEARCH_TOTALS, Rollup,
)
from storage.clickhouse import ClickHouse

SUMMARY = "summary"
RAW = "raw"

# Per-query limits of a web read, sent as query settings.
WEB_LIMITS = {"max_execution_time": 10, "max_memory_usage": 2_000_000_000, "max_rows_to_read": 500_000_000}
# The raw reference over long ranges scans much more; it is for tests and benchmarks.
RAW_LIMITS = {"max_execution_time": 600, "max_memory_usage": 8_000_000_000, "max_rows_to_read": 5_000_000_000}

PRODUCT_METRICS = ("views", "clicks", "add_to_cart", "purchases", "revenue")
_DECIMAL_PLACES = Decimal("0.0001")


def decimal_text(value: Decimal) -> str:
    """Format an exact decimal with four places, the scale money is stored with."""
    return str(Decimal(value).quantize(_DECIMAL_PLACES))


def rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class Reader:
    client: ClickHouse
    mode: str = SUMMARY
    limits: dict = field(default_factory=lambda: dict(WEB_LIMITS))
    tag: str = "analytics"

    def plan(self, start: datetime, end: datetime, *, hours: bool = True, days: bool = True) -> Plan:
        # NOTE: a summarized period is trusted as it is, so an event arriving late
        # for it counts only after the next refresh run (beat: every minute).
        if self.mode == RAW:
            return raw_plan(start, end)
        rows = self.client.execute(registry_sql(), registry_bounds(start, end), tag=self.tag, settings=self.limits)
        registry = {(hours_, naive_utc(start_)): generation for hours_, start_, generation in rows}
        return plan_range(registry, start, end, hours=hours, days=days)

    # Returns a connection of the calling thread; with it, rows_together runs
    # its statements on several connections at once (clients are per thread).
    connect: Callable[[], ClickHouse] | None = None

    def rows(self, sql: str, params: dict) -> list[tuple]:
        return self.client.execute(sql, params, tag=self.tag, settings=self.limits)

    def rows_together(self, statements: list[tuple[str, dict]]) -> list[list[tuple]]:
        """Run independent SELECTs, concurrently when the reader can open a connection per thread."""
        if self.connect is None or len(statements) < 2:
            return [self.rows(sql, params) for sql, params in statements]

        def run(statement: tuple[str, dict]) -> list[tuple]:
            sql, params = statement
            return self.connect().execute(sql, params, tag=self.tag, settings=self.limits)

        with ThreadPoolExecutor(max_workers=len(statements)) as pool:
            return list(pool.map(run, statements))


def combined(rollup: Rollup, plan: Plan, params: Params, bucket=None, where: str = "") -> str:
    """Select the rows of a rollup for a plan: its summary periods UNION ALL its raw ranges."""
    parts = []
    if plan.periods:
        parts.append(rollup.from_rollup(plan.periods, params, bucket, where))
    if plan.raw_ranges or not parts:
        parts.append(rollup.from_raw(plan.raw_ranges, params, bucket, where))
    return "\nUNION ALL\n".join(parts)


def _percentile(histogram: list[tuple[int, int]], fraction: float) -> int | None:
    """Nearest-rank percentile of a sorted (value, count) histogram."""
    total = sum(count for _value, count in histogram)
    if not total:
        return None
    rank = max(1, -(-int(round(fraction * total * 1_000_000)) // 1_000_000))
    seen = 0
    for value, count in histogram:
        seen += count
        if seen >= rank:
            return value
    return histogram[-1][0]


def _revenue_map(rows) -> dict[str, str]:
    return {currency: decimal_text(revenue) for currency, revenue in sorted(rows) if currency}


# --- search ---------------------------------------------------------------------------


def search_summary(reader: Reader, start: datetime, end: datetime) -> dict[str, Any]:
    plan = reader.plan(start, end)

    totals_params, histogram_params, attributed_params = Params(), Params(), Params()
    statements = [
        (f"""SELECT sum(searches), uniqExact(normalized_query), sum(zero_result_searches),
                sum(searches_with_results), sum(searches_with_click), sum(clicks), sum(click_position_sum),
                sum(searches_with_add_to_cart), sum(searches_with_purchase)
            FROM ({combined(SEARCH, plan, totals_params)})""", totals_params),
        (f"""SELECT took_ms, sum(searches) FROM ({combined(LATENCY, plan, histogram_params)})
            GROUP BY took_ms ORDER BY took_ms""", histogram_params),
        (f"""SELECT event_type, currency, sum(events), sum(units), sum(revenue)
            FROM ({combined(ATTRIBUTED, plan, attributed_params)}) GROUP BY event_type, currency""",
         attributed_params),
    ]
    totals_rows, histogram, attributed = reader.rows_together(statements)
    searches, unique, zero, with_results, with_click, clicks, position_sum, with_cart, with_purchase = totals_rows[0]
    carts = sum(row[2] for row in attributed if row[0] == "add_to_cart")
    purchases = [row for row in attributed if row[0] == "purchase"]

    return {
        "searches": searches,
        "unique_queries": unique,
        "zero_result_searches": zero,
        "zero_result_rate": rate(zero, searches),
        "searches_with_results": with_results,
        "searches_with_click": with_click,
        "click_through_rate": rate(with_click, with_results),
        "no_click_rate": rate(searches - with_click, searches),
        "clicks": clicks,
        "mean_click_position": rate(position_sum, clicks),
        "latency_ms": {name: _percentile(histogram, fraction) for name, fraction in
                       (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))},
        "add_to_cart_rate": rate(with_cart, searches),
        "purchase_rate": rate(with_purchase, searches),
        "attributed": {
            "add_to_cart": carts,
            "purchases": sum(row[2] for row in purchases),
            "units": sum(row[3] for row in purchases),
            "revenue": _revenue_map((row[1], row[4]) for row in purchases),
        },
    }


def _query_rows(reader: Reader, start: datetime, end: datetime, *, having: str, order: str,
                limit: int, offset: int) -> list[dict[str, Any]]:
    plan = reader.plan(start, end)
    params = Params()
    rows = reader.rows(
        f"""SELECT normalized_query, sum(searches) AS total_searches, sum(zero_result_searches) AS zero,
                sum(searches_with_results) AS with_results, sum(searches_with_click) AS with_click,
                sum(searches_with_add_to_cart) AS with_cart, sum(searches_with_purchase) AS with_purchase
            FROM ({combined(SEARCH, plan, params)})
            GROUP BY normalized_query
            {"HAVING " + having if having else ""}
            ORDER BY {order}, normalized_query
            LIMIT {int(offset)}, {int(limit)}""",
        params,
    )
    return [
        {
            "query": query,
            "searches": searches,
            "zero_result_searches": zero,
            "zero_result_rate": rate(zero, searches),
            "searches_with_results": with_results,
            "searches_without_click": with_results - with_click,
            "click_through_rate": rate(with_click, with_results),
            "add_to_cart_rate": rate(with_cart, searches),
            "purchase_rate": rate(with_purchase, searches),
        }
        for query, searches, zero, with_results, with_click, with_cart, with_purchase in rows
    ]


def popular_queries(reader: Reader, start: datetime, end: datetime, *, limit: int, offset: int = 0) -> list[dict]:
    return _query_rows(reader, start, end, having="", order="total_searches DESC", limit=limit, offset=offset)


def zero_result_queries(reader: Reader, start: datetime, end: datetime, *, limit: int, offset: int = 0) -> list[dict]:
    return _query_rows(reader, start, end, having="zero > 0", order="zero DESC, total_searches DESC",
                       limit=limit, offset=offset)


def no_click_queries(reader: Reader, start: datetime, end: datetime, *, limit: int, offset: int = 0) -> list[dict]:
    return _query_rows(reader, start, end, having="with_results > with_click",
                       order="with_results - with_click DESC, total_searches DESC", limit=limit, offset=offset)


def click_positions(reader: Reader, start: datetime, end: datetime, *, limit: int, offset: int = 0) -> list[dict]:
    plan = reader.plan(start, end)
    params = Params()
    rows = reader.rows(
        f"""SELECT position, sum(clicks) FROM ({combined(CLICK_POSITIONS, plan, params)})
            GROUP BY position ORDER BY position LIMIT {int(offset)}, {int(limit)}""",
        params,
    )
    return [{"position": position, "clicks": clicks} for position, clicks in rows]


def filter_usage(reader: Reader, start: datetime, end: datetime, *, limit: int, offset: int = 0,
                 zero_results_only: bool = False) -> list[dict]:
    plan = reader.plan(start, end)
    params = Params()
    having = "HAVING zero > 0" if zero_results_only else ""
    order = "zero DESC, used DESC" if zero_results_only else "used DESC, zero DESC"
    rows = reader.rows(
        f"""SELECT filter_name, filter_value, sum(searches) AS used, sum(zero_result_searches) AS zero
            FROM ({combined(FILTERS, plan, params)})
            GROUP BY filter_name, filter_value {having}
            ORDER BY {order}, filter_name, filter_value
            LIMIT {int(offset)}, {int(limit)}""",
        params,
    )
    return [
        {"filter": name, "value": value, "searches": used, "zero_result_searches": zero,
         "zero_result_rate": rate(zero, used)}
        for name, value, used, zero in rows
    ]


def _series_plan(reader: Reader, start: datetime, end: datetime, interval: str, tz: str) -> Plan:
    # Hourly summaries start on UTC hours and daily ones on UTC midnights, so
    # each serves a bucket only where the zone's offset keeps them aligned.
    # NOTE: a zone with a half-hour offset (Asia/Kolkata) and minute buckets
    # read only raw events, as slowly as the raw reference over long ranges.
    hours = interval != "minute" and buckets.whole_hour_offsets(start, end, tz)
    days = interval in ("day", "week", "month") and buckets.zero_offset(start, end, tz)
    return reader.plan(start, end, hours=hours, days=days)


def search_timeseries(reader: Reader, start: datetime, end: datetime, *, interval: str, tz: str) -> list[dict]:
    keys = buckets.bucket_keys(start, end, interval, tz)
    plan = _series_plan(reader, start, end, interval, tz)
    params = Params()
    bucket = buckets.bucket_function(interval, params.add(tz))
    rows = reader.rows(
        f"""SELECT bucket, sum(searches), sum(zero_result_searches), sum(searches_with_results), sum(searches_with_click)
            FROM ({combined(SEARCH_TOTALS, plan, params, bucket)}) GROUP BY bucket""",
        params,
    )
    found = {row[0]: row[1:] for row in rows}
    series = []
    for key in keys:
        searches, zero, with_results, with_click = found.get(key, (0, 0, 0, 0))
        series.append({
            "start": buckets.bucket_start_iso(key, tz),
            "searches": searches,
            "zero_result_searches": zero,
            "searches_with_click": with_click,
            "click_through_rate": rate(with_click, with_results),
        })
    return series


# --- products -------------------------------------------------------------------------

_FUNNEL_SUMS = "sum(views), sum(clicks), sum(add_to_cart), sum(purchases), sum(units), sum(revenue)"


def _funnel(rows_by_currency) -> dict[str, Any]:
    """Merge (currency, views, clicks, carts, purchases, units, revenue) rows into one funnel."""
    views = clicks = carts = purchases = units = 0
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for currency, row_views, row_clicks, row_carts, row_purchases, row_units, row_revenue in rows_by_currency:
        views += row_views
        clicks += row_clicks
        carts += row_carts
        purchases += row_purchases
        units += row_units
        if currency:
            revenue[currency] += row_revenue
    return {
        "views": views,
        "clicks": clicks,
        "add_to_cart": carts,
        "purchases": purchases,
        "units": units,
        "revenue": {currency: decimal_text(amount) for currency, amount in sorted(revenue.items())},
        "view_to_purchase_rate": rate(purchases, views),
    }


def top_products(reader: Reader, start: datetime, end: datetime, *, metric: str, limit: int, offset: int = 0,
                 currency: str | None = None) -> list[dict]:
    """Products ranked by a metric; by revenue the rows are per product and currency."""
    plan = reader.plan(start, end)
    params = Params()
    if metric == "revenue":
        condition = "currency != ''" if currency is None else f"currency = {params.add(currency)}"
        rows = reader.rows(
            f"""SELECT product_id, currency, {_FUNNEL_SUMS} AS total
                FROM ({combined(PRODUCTS, plan, params, where=condition)})
                GROUP BY product_id, currency
                ORDER BY total DESC, product_id, currency
                LIMIT {int(offset)}, {int(limit)}""",
            params,
        )
        return [{"product_id": row[0], "currency": row[1], "revenue": decimal_text(row[7]), "units": row[6],
                 "purchases": row[5]} for row in rows]

    rows = reader.rows(
        f"""SELECT product_id, sum(views) AS views_total, sum(clicks) AS clicks_total,
                sum(add_to_cart) AS add_to_cart_total, sum(purchases) AS purchases_total, sum(units)
            FROM ({combined(PRODUCTS, plan, params)})
            GROUP BY product_id
            ORDER BY {metric}_total DESC, product_id
            LIMIT {int(offset)}, {int(limit)}""",
        params,
    )
    return [{"product_id": row[0], "views": row[1], "clicks": row[2], "add_to_cart": row[3], "purchases": row[4],
             "units": row[5]} for row in rows]


def product_funnel(reader: Reader, start: datetime, end: datetime, product_id: str) -> dict[str, Any]:
    plan = reader.plan(start, end)
    params = Params()
    condition = f"product_id = {params.add(product_id)}"
    rows = reader.rows(
        f"SELECT currency, {_FUNNEL_SUMS} FROM ({combined(PRODUCTS, plan, params, where=condition)}) GROUP BY currency",
        params,
    )
    return _funnel(rows)


def product_timeseries(reader: Reader, start: datetime, end: datetime, product_id: str, *,
                       interval: str, tz: str) -> list[dict]:
    keys = buckets.bucket_keys(start, end, interval, tz)
    plan = _series_plan(reader, start, end, interval, tz)
    params = Params()
    bucket = buckets.bucket_function(interval, params.add(tz))
    condition = f"product_id = {params.add(product_id)}"
    rows = reader.rows(
        f"""SELECT bucket, currency, {_FUNNEL_SUMS}
            FROM ({combined(PRODUCTS, plan, params, bucket, where=condition)}) GROUP BY bucket, currency""",
        params,
    )
    by_bucket = defaultdict(list)
    for row in rows:
        by_bucket[row[0]].append(row[1:])
    return [{"start": buckets.bucket_start_iso(key, tz), **_funnel(by_bucket.get(key, []))} for key in keys]


def _category_tree(reader: Reader) -> dict[str, dict[str, str]]:
    rows = reader.rows(
        """SELECT id, argMax(name, version), argMax(parent_id, version), argMax(deleted, version)
           FROM categories GROUP BY id""",
        {},
    )
    return {row[0]: {"name": row[1], "parent_id": row[2]} for row in rows if not row[3]}


def _ancestry(category_id: str, tree: dict[str, dict[str, str]]) -> list[str]:
    """Return the category and its ancestors, nearest first. A cycle in parent_id ends the walk."""
    chain = []
    current = category_id
    while current in tree and current not in chain:
        chain.append(current)
        current = tree[current]["parent_id"]
    return chain


def category_funnels(reader: Reader, start: datetime, end: datetime, *, limit: int, offset: int = 0) -> list[dict]:
    """Compute the funnel of each category with activity, including its subcategories' products.

    A product's category is its newest live catalog row's; events of products
    unknown to the catalog or without a category count under `category_id` null.
    """
    plan = reader.plan(start, end)
    params = Params()
    rows = reader.rows(
        f"""SELECT category_id, currency, {_FUNNEL_SUMS}
            FROM
            (
                SELECT product_id, currency, sum(views) AS views, sum(clicks) AS clicks,
                    sum(add_to_cart) AS add_to_cart, sum(purchases) AS purchases, sum(units) AS units,
                    sum(revenue) AS revenue
                FROM ({combined(PRODUCTS, plan, params)})
                GROUP BY product_id, currency
            )
            ANY LEFT JOIN
            (
                SELECT id AS product_id, argMaxIf(category_id, version, deleted = 0) AS category_id
                FROM products GROUP BY id
            ) USING product_id
            GROUP BY category_id, currency""",
        params,
    )
    tree = _category_tree(reader)

    own: dict[str, list] = defaultdict(list)
    total: dict[str, list] = defaultdict(list)
    for category_id, *figures in rows:
        key = category_id if category_id in tree else ""
        own[key].append(figures)
        for ancestor in _ancestry(key, tree) or [key]:
            total[ancestor].append(figures)

    result = []
    for category_id, figures in total.items():
        funnel = _funnel(figures)
        known = tree.get(category_id)
        result.append({
            "category_id": category_id or None,
            "name": known["name"] if known else None,
            "parent_id": (known["parent_id"] or None) if known else None,
            **funnel,
            "own": _funnel(own.get(category_id, [])),
        })
    result.sort(key=lambda item: (-item["views"], -item["purchases"], item["category_id"] or ""))
    return result[offset:offset + limit]


def product_known(reader: Reader, product_id: str) -> bool:
    """Return whether the catalog ever contained the product or any event names it."""
    in_catalog = reader.rows("SELECT count() FROM products WHERE id = %(id)s", {"id": product_id})[0][0]
    if in_catalog:
        return True
    # Events are not ordered by product, so this scans; it runs only for ids the catalog lacks.
    return bool(reader.rows("SELECT count() FROM (SELECT 1 FROM events WHERE product_id = %(id)s LIMIT 1)",
                            {"id": product_id})[0][0])
