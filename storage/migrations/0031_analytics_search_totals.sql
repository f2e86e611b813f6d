-- Search totals per period (no query key), so a time series reads one row per
-- hour or day instead of one per normalized query.
CREATE TABLE IF NOT EXISTS analytics_search_totals_rollup
(
    period_hours UInt8,
    period_start DateTime,
    generation UInt64,
    searches UInt64,
    zero_result_searches UInt64,
    searches_with_results UInt64,
    searches_with_click UInt64,
    clicks UInt64,
    click_position_sum UInt64,
    searches_with_add_to_cart UInt64,
    searches_with_purchase UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (period_hours, period_start, generation);

-- Periods summarized before this table existed get their totals from the
-- per-query rows; the NOT IN makes a second run insert nothing.
INSERT INTO analytics_search_totals_rollup
SELECT period_hours, period_start, generation, sum(searches), sum(zero_result_searches),
    sum(searches_with_results), sum(searches_with_click), sum(clicks), sum(click_position_sum),
    sum(searches_with_add_to_cart), sum(searches_with_purchase)
FROM analytics_search_rollup
WHERE (period_hours, period_start, generation) NOT IN
    (SELECT period_hours, period_start, generation FROM analytics_search_totals_rollup)
GROUP BY period_hours, period_start, generation;
