-- Analytics summary tables. Each rollup row belongs to one period (an hour or
-- a UTC day) and one generation: a refresh writes a whole period again under a
-- new generation, then records it in analytics_periods, so a read that picks
-- the newest generation per period never sees a half-written period. Older
-- generations are deleted by the compaction task. Counts are UInt64 and
-- revenue is an exact Decimal(38, 4).

CREATE TABLE IF NOT EXISTS analytics_periods
(
    period_hours UInt8,
    period_start DateTime,
    generation UInt64,
    refreshed_at DateTime
)
ENGINE = ReplacingMergeTree(generation)
ORDER BY (period_hours, period_start);

-- One row per refresh run, so the next run knows since when to look for late events.
CREATE TABLE IF NOT EXISTS analytics_refresh_runs
(
    started_at DateTime,
    finished_at DateTime,
    periods_rebuilt UInt32
)
ENGINE = MergeTree
ORDER BY started_at;

CREATE TABLE IF NOT EXISTS analytics_search_rollup
(
    period_hours UInt8,
    period_start DateTime,
    generation UInt64,
    normalized_query String,
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
ORDER BY (period_hours, period_start, generation, normalized_query);

CREATE TABLE IF NOT EXISTS analytics_search_latency_rollup
(
    period_hours UInt8,
    period_start DateTime,
    generation UInt64,
    took_ms UInt32,
    searches UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (period_hours, period_start, generation, took_ms);

CREATE TABLE IF NOT EXISTS analytics_click_position_rollup
(
    period_hours UInt8,
    period_start DateTime,
    generation UInt64,
    position UInt16,
    clicks UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (period_hours, period_start, generation, position);

CREATE TABLE IF NOT EXISTS analytics_filter_rollup
(
    period_hours UInt8,
    period_start DateTime,
    generation UInt64,
    filter_name String,
    filter_value String,
    searches UInt64,
    zero_result_searches UInt64
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (period_hours, period_start, generation, filter_name, filter_value);

-- Add-to-cart and purchase events attributed to search, by the event's own time.
CREATE TABLE IF NOT EXISTS analytics_attributed_rollup
(
    period_hours UInt8,
    period_start DateTime,
    generation UInt64,
    event_type String,
    currency String,
    events UInt64,
    units UInt64,
    revenue Decimal(38, 4)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (period_hours, period_start, generation, event_type, currency);

CREATE TABLE IF NOT EXISTS analytics_product_rollup
(
    period_hours UInt8,
    period_start DateTime,
    generation UInt64,
    product_id String,
    currency String,
    views UInt64,
    clicks UInt64,
    add_to_cart UInt64,
    purchases UInt64,
    units UInt64,
    revenue Decimal(38, 4)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(period_start)
ORDER BY (period_hours, period_start, generation, product_id, currency);
