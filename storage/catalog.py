"""The catalog in ClickHouse: products and categories as versioned rows.

Every write appends a row with a higher version to a ReplacingMergeTree table,
and a delete appends a tombstone (deleted = 1). Reads use FINAL, so they see
the newest row of each id even before the background merge ran. Writes to one
product or category hold a short Redis lock, so a version check (If-Match)
and the write that follows cannot interleave with another writer.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from redis import exceptions as redis_errors

from storage import clients
from storage.errors import StorageUnavailable

logger = logging.getLogger(__name__)

PRODUCT_COLUMNS = (
    "id", "name", "description", "brand", "category_id", "price", "currency", "in_stock",
    "stock_quantity", "rating", "review_count", "image_url", "attributes",
    "created_at", "updated_at", "version", "deleted",
)
CATEGORY_COLUMNS = ("id", "name", "parent_id", "created_at", "updated_at", "version", "deleted")

# A writer holds the lock of one record for at most this many seconds; a
# crashed writer's lock expires by itself.
LOCK_TIMEOUT_SECONDS = 10
# How long a second writer waits for the lock before it fails with 503.
LOCK_WAIT_SECONDS = 5


class LockTimeout(StorageUnavailable):
    """Another writer held the record's lock for longer than LOCK_WAIT_SECONDS."""

    def __init__(self, key: str):
        super().__init__("redis", f"lock {key} is busy")


def now_utc() -> datetime:
    """Return the current UTC time without microseconds (ClickHouse DateTime is whole seconds)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def next_version(stored: int | None = None) -> int:
    """Return a new version: microseconds since the epoch, and above the stored version.

    The clock keeps versions of different records comparable (the reindex
    uses that); `stored + 1` keeps them increasing when clocks disagree.
    """
    candidate = time.time_ns() // 1000
    return max(candidate, (stored or 0) + 1)


@contextmanager
def record_lock(kind: str, record_id: str) -> Iterator[None]:
    """Hold the write lock of one product or category while the block runs."""
    key = f"lock:{clients.settings().clickhouse_db}:{kind}:{record_id}"
    try:
        lock = clients.redis_client().lock(key, timeout=LOCK_TIMEOUT_SECONDS, blocking_timeout=LOCK_WAIT_SECONDS)
        acquired = lock.acquire()
    except redis_errors.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc
    if not acquired:
        raise LockTimeout(key)
    try:
        yield
    finally:
        try:
            lock.release()
        except redis_errors.LockError:
            # The lock expired while the block ran; another writer may hold it now.
            logger.warning("record_lock_expired key=%s", key)
        except redis_errors.RedisError as exc:
            logger.warning("record_lock_release_failed key=%s error=%s", key, type(exc).__name__)


# --- products -----------------------------------------------------------------


def _product_from_row(row: dict[str, Any]) -> dict[str, Any]:
    product = dict(row)
    product["attributes"] = json.loads(product["attributes"] or "{}")
    product["in_stock"] = bool(product["in_stock"])
    product["deleted"] = bool(product["deleted"])
    # Empty strings are how the table stores "no category" and "no image".
    product["category_id"] = product["category_id"] or None
    product["image_url"] = product["image_url"] or None
    if product["rating"] is not None:
        product["rating"] = round(float(product["rating"]), 3)
    for key in ("created_at", "updated_at"):
        product[key] = product[key].replace(tzinfo=timezone.utc)
    return product


def _product_row(product: dict[str, Any]) -> tuple:
    values = dict(product)
    values["attributes"] = json.dumps(values.get("attributes") or {}, ensure_ascii=False, sort_keys=True)
    values["in_stock"] = 1 if values.get("in_stock") else 0
    values["deleted"] = 1 if values.get("deleted") else 0
    values["price"] = Decimal(values["price"]) if values.get("price") is not None else Decimal(0)
    for key in ("description", "brand", "category_id", "image_url", "currency"):
        values[key] = values.get(key) or ""
    for key in ("stock_quantity", "review_count"):
        values[key] = values.get(key) or 0
    for key in ("created_at", "updated_at"):
        stamp = values[key]
        if stamp.tzinfo is not None:
            values[key] = stamp.astimezone(timezone.utc).replace(tzinfo=None)
    return tuple(values.get(column) for column in PRODUCT_COLUMNS)


def get_product_rows(ids: Iterable[str], *, tag: str, profile: str = clients.WEB) -> dict[str, dict[str, Any]]:
    """Return the newest row of each id, tombstones included, keyed by id."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    rows = clients.clickhouse(profile).query_dicts(
        f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products FINAL WHERE id IN %(ids)s",
        {"ids": tuple(ids)},
        tag=tag,
    )
    return {row["id"]: _product_from_row(row) for row in rows}


def get_product_states(ids: Iterable[str], *, tag: str) -> dict[str, dict[str, Any]]:
    """Return the version, created_at and deleted flag of each stored id (cheaper than whole rows)."""
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    rows = clients.clickhouse().execute(
        "SELECT id, version, created_at, deleted FROM products FINAL WHERE id IN %(ids)s",
        {"ids": tuple(ids)},
        tag=tag,
    )
    return {
        product_id: {"version": version, "created_at": created_at.replace(tzinfo=timezone.utc), "deleted": bool(deleted)}
        for product_id, version, created_at, deleted in rows
    }


def get_product(product_id: str, *, tag: str, profile: str = clients.WEB) -> dict[str, Any] | None:
    """Return the live product, or None when it never existed or was deleted."""
    row = get_product_rows([product_id], tag=tag, profile=profile).get(product_id)
    if row is None or row["deleted"]:
        return None
    return row


def insert_products(products: list[dict[str, Any]], *, tag: str, profile: str = clients.WEB) -> int:
    """Append one versioned row per product (each dict carries every column but `deleted`)."""
    return clients.clickhouse(profile).insert("products", PRODUCT_COLUMNS, [_product_row(p) for p in products], tag=tag)


def tombstone(product: dict[str, Any], *, tag: str) -> dict[str, Any]:
    """Append a tombstone row for a product and return it."""
    row = {**product, "deleted": True, "version": next_version(product["version"]), "updated_at": now_utc()}
    insert_products([row], tag=tag)
    return row


def _product_filters(filters: dict[str, Any], category_ids: list[str] | None) -> tuple[str, dict[str, Any]]:
    clauses = ["deleted = 0"]
    params: dict[str, Any] = {}
    if category_ids is not None:
        clauses.append("category_id IN %(category_ids)s")
        params["category_ids"] = tuple(category_ids) or ("",)
    if filters.get("brand") is not None:
        clauses.append("brand = %(brand)s")
        params["brand"] = filters["brand"]
    if filters.get("in_stock") is not None:
        clauses.append("in_stock = %(in_stock)s")
        params["in_stock"] = 1 if filters["in_stock"] else 0
    if filters.get("min_price") is not None:
        # The driver sends a fractional Decimal as a Float64 literal, which
        # ClickHouse 18.16 cannot compare with a Decimal column; a string can be converted.
        clauses.append("price >= toDecimal64(%(min_price)s, 4)")
        params["min_price"] = str(Decimal(filters["min_price"]))
    if filters.get("max_price") is not None:
        clauses.append("price <= toDecimal64(%(max_price)s, 4)")
        params["max_price"] = str(Decimal(filters["max_price"]))
    if filters.get("updated_since") is not None:
        clauses.append("updated_at >= %(updated_since)s")
        params["updated_since"] = filters["updated_since"].astimezone(timezone.utc).replace(tzinfo=None)
    return " AND ".join(clauses), params


def list_products(
    filters: dict[str, Any], *, offset: int, limit: int, category_ids: list[str] | None = None, tag: str
) -> tuple[list[dict[str, Any]], int]:
    """Return one page of live products ordered by id, and the number matching the filters."""
    where, params = _product_filters(filters, category_ids)
    client = clients.clickhouse()
    rows = client.query_dicts(
        f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products FINAL WHERE {where} "
        "ORDER BY id LIMIT %(limit)s OFFSET %(offset)s",
        {**params, "limit": limit, "offset": offset},
        tag=tag,
    )
    total = client.execute(f"SELECT count() FROM products FINAL WHERE {where}", params, tag=tag)[0][0]
    return [_product_from_row(row) for row in rows], total


def iter_product_rows(*, tag: str, min_version: int | None = None, include_deleted: bool = False) -> Iterator[dict]:
    """Stream products out of ClickHouse block by block, in bounded memory.

    With `min_version`, only rows newer than it; with `include_deleted`, tombstones too.
    """
    clauses = []
    params: dict[str, Any] = {}
    if not include_deleted:
        clauses.append("deleted = 0")
    if min_version is not None:
        clauses.append("version > %(min_version)s")
        params["min_version"] = min_version
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = clients.clickhouse(clients.TASK).iter_rows(
        f"SELECT {', '.join(PRODUCT_COLUMNS)} FROM products FINAL {where}",
        params,
        tag=tag,
        # Small blocks keep the memory bounded whatever the catalog's size.
        settings={"max_block_size": 2048},
    )
    for values in rows:
        yield _product_from_row(dict(zip(PRODUCT_COLUMNS, values)))


def count_live_products(*, tag: str, profile: str = clients.TASK) -> int:
    return clients.clickhouse(profile).execute("SELECT count() FROM products FINAL WHERE deleted = 0", tag=tag)[0][0]


def max_product_version(*, tag: str) -> int:
    """Return the highest version stored in the products table (0 when empty)."""
    return clients.clickhouse(clients.TASK).execute("SELECT max(version) FROM products", tag=tag)[0][0] or 0


def product_ids_in_categories(category_ids: list[str], *, tag: str) -> list[str]:
    if not category_ids:
        return []
    rows = clients.clickhouse(clients.TASK).execute(
        "SELECT id FROM products FINAL WHERE deleted = 0 AND category_id IN %(ids)s ORDER BY id",
        {"ids": tuple(category_ids)},
        tag=tag,
    )
    return [row[0] for row in rows]


def product_counts_by_category(*, tag: str) -> dict[str, int]:
    """Return the number of live products whose category_id is each category (descendants not included)."""
    rows = clients.clickhouse().execute(
        "SELECT category_id, count() FROM products FINAL WHERE deleted = 0 GROUP BY category_id",
        tag=tag,
    )
    return {category_id: count for category_id, count in rows}


# --- categories ---------------------------------------------------------------


def _category_from_row(row: dict[str, Any]) -> dict[str, Any]:
    category = dict(row)
    category["parent_id"] = category["parent_id"] or None
    category["deleted"] = bool(category["deleted"])
    for key in ("created_at", "updated_at"):
        category[key] = category[key].replace(tzinfo=timezone.utc)
    return category


def load_categories(*, tag: str, profile: str = clients.WEB) -> dict[str, dict[str, Any]]:
    """Return every live category keyed by id (a catalog has thousands at most)."""
    rows = clients.clickhouse(profile).query_dicts(
        f"SELECT {', '.join(CATEGORY_COLUMNS)} FROM categories FINAL WHERE deleted = 0",
        tag=tag,
    )
    return {row["id"]: _category_from_row(row) for row in rows}


def get_category(category_id: str, *, tag: str) -> dict[str, Any] | None:
    rows = clients.clickhouse().query_dicts(
        f"SELECT {', '.join(CATEGORY_COLUMNS)} FROM categories FINAL WHERE id = %(id)s",
        {"id": category_id},
        tag=tag,
    )
    if not rows or rows[0]["deleted"]:
        return None
    return _category_from_row(rows[0])


def insert_categories(categories: list[dict[str, Any]], *, tag: str, profile: str = clients.WEB) -> int:
    """Append one versioned row per category."""
    rows = []
    for category in categories:
        values = {**category, "parent_id": category.get("parent_id") or "", "deleted": 1 if category.get("deleted") else 0}
        for key in ("created_at", "updated_at"):
            if values[key].tzinfo is not None:
                values[key] = values[key].astimezone(timezone.utc).replace(tzinfo=None)
        rows.append(tuple(values[column] for column in CATEGORY_COLUMNS))
    return clients.clickhouse(profile).insert("categories", CATEGORY_COLUMNS, rows, tag=tag)


def category_path(categories: dict[str, dict[str, Any]], category_id: str | None) -> list[dict[str, str]]:
    """Return the categories from the root down to `category_id` (empty when unknown)."""
    path: list[dict[str, str]] = []
    seen: set[str] = set()
    current = category_id
    while current and current in categories and current not in seen:
        seen.add(current)
        node = categories[current]
        path.append({"id": node["id"], "name": node["name"]})
        current = node["parent_id"]
    path.reverse()
    return path


def descendant_ids(categories: dict[str, dict[str, Any]], category_id: str) -> list[str]:
    """Return `category_id` and the ids of every category below it."""
    children: dict[str, list[str]] = {}
    for node in categories.values():
        if node["parent_id"]:
            children.setdefault(node["parent_id"], []).append(node["id"])
    found = [category_id]
    index = 0
    while index < len(found):
        found.extend(child for child in children.get(found[index], []) if child not in found)
        index += 1
    return found


def counts_with_descendants(categories: dict[str, dict[str, Any]], direct: dict[str, int]) -> dict[str, int]:
    """Add each category's direct product count to itself and to every ancestor."""
    totals = dict.fromkeys(categories, 0)
    for category_id, count in direct.items():
        for node in category_path(categories, category_id):
            totals[node["id"]] += count
    return totals


def would_create_cycle(categories: dict[str, dict[str, Any]], category_id: str, parent_id: str | None) -> bool:
    """Tell whether making `parent_id` the parent of `category_id` closes a loop."""
    current = parent_id
    seen: set[str] = set()
    while current and current not in seen:
        if current == category_id:
            return True
        seen.add(current)
        current = categories.get(current, {}).get("parent_id")
    return False

