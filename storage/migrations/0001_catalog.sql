-- The catalog, the system of record that the search index is rebuilt from.
-- Each write appends a row with a higher version; a delete appends a tombstone
-- (deleted = 1). Reads use FINAL (or argMax by version) to see the newest row.
CREATE TABLE IF NOT EXISTS products
(
    id String,
    name String,
    description String,
    brand String,
    category_id String,
    price Decimal(18, 4),
    currency String,
    in_stock UInt8,
    stock_quantity UInt32,
    rating Nullable(Float32),
    review_count UInt32,
    image_url String,
    attributes String,
    created_at DateTime,
    updated_at DateTime,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;

CREATE TABLE IF NOT EXISTS categories
(
    id String,
    name String,
    parent_id String,
    created_at DateTime,
    updated_at DateTime,
    version UInt64,
    deleted UInt8
)
ENGINE = ReplacingMergeTree(version)
ORDER BY id;
