-- Popularity of each product over the last 30 days of events, written by the
-- task aggregation.update_popularity and copied into the search documents for
-- sort=popularity. Each run appends a row per changed product; FINAL keeps the
-- newest.
CREATE TABLE IF NOT EXISTS product_popularity
(
    product_id String,
    popularity Float64,
    computed_at DateTime
)
ENGINE = ReplacingMergeTree(computed_at)
ORDER BY product_id;
