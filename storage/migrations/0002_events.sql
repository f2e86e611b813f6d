-- Raw events, written in batches by the events workers. Both tables are
-- partitioned by month so a time range reads few partitions, and ordered by
-- time first because every analytics query filters on a time range.
CREATE TABLE IF NOT EXISTS search_events
(
    event_id String,
    query_id String,
    timestamp DateTime,
    timestamp_ms UInt64,
    received_at DateTime,
    query String,
    normalized_query String,
    filters String,
    filter_names Array(String),
    filter_values Array(String),
    sort String,
    page UInt32,
    page_size UInt32,
    total UInt32,
    took_ms UInt32,
    session_id String,
    user_id String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (toStartOfHour(timestamp), normalized_query, query_id);

CREATE TABLE IF NOT EXISTS events
(
    event_id String,
    event_type Enum8('view' = 1, 'click' = 2, 'add_to_cart' = 3, 'purchase' = 4),
    timestamp DateTime,
    received_at DateTime,
    product_id String,
    session_id String,
    user_id String,
    query_id String,
    position UInt16,
    quantity UInt32,
    price Decimal(18, 4),
    currency String,
    order_id String
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(timestamp)
ORDER BY (toStartOfHour(timestamp), event_type, product_id);
