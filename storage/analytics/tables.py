"""The summary tables: their columns and the raw SELECT that produces their rows.

Every rollup table has the columns period_hours, period_start and generation,
then its key columns, then additive metric columns. `Rollup.from_raw` builds
rows of the same shape straight from the raw events, grouped by a bucket
expression, which serves three purposes: filling an hour when it is
refreshed, the raw tail of a read, and the all-raw reference computation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from storage.analytics import sources
from storage.analytics.sources import Params, Range

# Builds the bucket expression for a DateTime column, or None for no bucket.
BucketFunction = Callable[[str], str] | None

PERIODS_TABLE = "analytics_periods"
REFRESH_RUNS_TABLE = "analytics_refresh_runs"


@dataclass(frozen=True)
class Rollup:
    name: str
    # Each key and each metric with the SQL that computes it from the source
    # rows. The metric casts give raw rows and rollup rows one type to union.
    keys: tuple[tuple[str, str], ...]
    metrics: tuple[tuple[str, str], ...]
    # The raw rows the metrics aggregate and the name of their time column.
    source: Callable[[Sequence[Range], Params], str]
    time_column: str
    # A clause between FROM (source) and WHERE, such as ARRAY JOIN.
    source_suffix: str = ""

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(name for name, _sql in self.keys)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(name for name, _sql in self.metrics)

    @property
    def columns(self) -> tuple[str, ...]:
        return ("period_hours", "period_start", "generation") + self.key_names + self.metric_names

    def from_raw(self, ranges: Sequence[Range], params: Params, bucket: BucketFunction, where: str = "") -> str:
        """Rows of this table's shape (bucket, keys, metrics) computed from raw events.

        `where` filters the source rows by columns that are also key columns.
        """
        selected = [f"{sql} AS {name}" for name, sql in self.keys + self.metrics]
        group = list(self.key_names)
        if bucket is not None:
            selected.insert(0, f"{bucket(self.time_column)} AS bucket")
            group.insert(0, "bucket")
        group_by = f"GROUP BY {', '.join(group)}" if group else ""
        return f"""
            SELECT {', '.join(selected)}
            FROM ({self.source(ranges, params)})
            {self.source_suffix}
            {"WHERE " + where if where else ""}
            {group_by}"""

    def from_rollup(
        self, periods: Sequence[tuple[int, object, int]], params: Params, bucket: BucketFunction, where: str = ""
    ) -> str:
        """Rows of the given (period_hours, period_start, generation) periods."""
        starts = [start for _hours, start, _generation in periods]
        selected = list(self.key_names) + list(self.metric_names)
        if bucket is not None:
            selected.insert(0, f"{bucket('period_start')} AS bucket")
        return f"""
            SELECT {', '.join(selected)}
            FROM {self.name}
            WHERE period_start >= {params.add(min(starts))} AND period_start <= {params.add(max(starts))}
                AND (period_hours, period_start, generation) IN {params.add(tuple(periods))}
                {"AND " + where if where else ""}"""


def _search_facts(ranges: Sequence[Range], params: Params) -> str:
    return sources.search_facts(ranges, params)


SEARCH = Rollup(
    name="analytics_search_rollup",
    keys=(("normalized_query", "normalized_query"),),
    metrics=(
        ("searches", "toUInt64(count())"),
        ("zero_result_searches", "toUInt64(countIf(total = 0))"),
        ("searches_with_results", "toUInt64(countIf(total > 0))"),
        ("searches_with_click", "toUInt64(countIf(total > 0 AND click_count > 0))"),
        ("clicks", "toUInt64(sum(click_count))"),
        ("click_position_sum", "toUInt64(sum(position_sum))"),
        ("searches_with_add_to_cart", "toUInt64(countIf(with_add_to_cart = 1))"),
        ("searches_with_purchase", "toUInt64(countIf(with_purchase = 1))"),
    ),
    source=_search_facts,
    time_column="started_at",
)

# The same figures without the query key, for time series.
SEARCH_TOTALS = Rollup(
    name="analytics_search_totals_rollup",
    keys=(),
    metrics=SEARCH.metrics,
    source=_search_facts,
    time_column="started_at",
)

LATENCY = Rollup(
    name="analytics_search_latency_rollup",
    keys=(("took_ms", "took_ms"),),
    metrics=(("searches", "toUInt64(count())"),),
    source=_search_facts,
    time_column="started_at",
)

CLICK_POSITIONS = Rollup(
    name="analytics_click_position_rollup",
    keys=(("position", "click_position"),),
    metrics=(("clicks", "toUInt64(count())"),),
    source=_search_facts,
    time_column="started_at",
    source_suffix="ARRAY JOIN positions AS click_position",
)

FILTERS = Rollup(
    name="analytics_filter_rollup",
    keys=(("filter_name", "used_filter_name"), ("filter_value", "used_filter_value")),
    metrics=(
        ("searches", "toUInt64(count())"),
        ("zero_result_searches", "toUInt64(countIf(total = 0))"),
    ),
    source=_search_facts,
    time_column="started_at",
    source_suffix="ARRAY JOIN filter_names AS used_filter_name, filter_values AS used_filter_value",
)

ATTRIBUTED = Rollup(
    name="analytics_attributed_rollup",
    keys=(("event_type", "event_type"), ("currency", "revenue_currency")),
    metrics=(
        ("events", "toUInt64(count())"),
        ("units", "toUInt64(sum(quantity))"),
        ("revenue", "toDecimal128(sum(toDecimal128(price, 4) * quantity), 4)"),
    ),
    source=sources.attributed_conversions,
    time_column="converted_at",
)

PRODUCTS = Rollup(
    name="analytics_product_rollup",
    keys=(("product_id", "product_id"), ("currency", "revenue_currency")),
    metrics=(
        ("views", "toUInt64(countIf(event_type = 'view'))"),
        ("clicks", "toUInt64(countIf(event_type = 'click'))"),
        ("add_to_cart", "toUInt64(countIf(event_type = 'add_to_cart'))"),
        ("purchases", "toUInt64(countIf(event_type = 'purchase'))"),
        ("units", "toUInt64(sumIf(quantity, event_type = 'purchase'))"),
        ("revenue", "toDecimal128(sumIf(toDecimal128(price, 4) * quantity, event_type = 'purchase'), 4)"),
    ),
    source=sources.product_events,
    time_column="timestamp",
)

ROLLUPS: tuple[Rollup, ...] = (SEARCH, SEARCH_TOTALS, LATENCY, CLICK_POSITIONS, FILTERS, ATTRIBUTED, PRODUCTS)

# Every table that contains derived analytics data, for purges of raw events.
SUMMARY_TABLES: tuple[str, ...] = tuple(rollup.name for rollup in ROLLUPS) + (PERIODS_TABLE,)
