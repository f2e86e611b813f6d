"""Import a catalog file (JSON Lines or CSV) through the same validation and bulk path as the API.

A mapping names, for each product field, the source field to read it from,
with `|` between fallbacks ("discounted_price|retail_price"). Targets of the
form "attributes.<key>" fill one attribute. A `category_path` source (a list
of names, or one string split on ">>" or ">") becomes categories, created as
needed with ids derived from the path, so a second import reuses them.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from storage import catalog
from webapp.catalog.products import bulk_upsert
from webapp.catalog.schemas import CATEGORY_NAME_MAX_LENGTH, ProductCreateSchema

logger = logging.getLogger(__name__)

FORMATS = ("jsonl", "csv")
# Rejected rows kept in the summary with their errors; the rest are only counted.
REJECTED_ROWS_SHOWN = 50
PRODUCT_FIELDS = tuple(name for name, field in ProductCreateSchema().fields.items() if not field.dump_only)
_INTEGER_FIELDS = ("stock_quantity", "review_count")
_SLUG = re.compile(r"[^a-z0-9]+")

# Mappings of the public catalogs the tests and benchmarks load. Flipkart's
# last path level is often the product name itself, so only 3 levels are kept.
PRESETS: dict[str, dict[str, Any]] = {
    "flipkart": {
        "mapping": {
            "price": "discounted_price|retail_price", "rating": "product_rating",
            "attributes.pid": "pid", "attributes.retail_price": "retail_price",
        },
        "defaults": {},
        "category_depth": 3,
    },
    "bestbuy": {
        "mapping": {"id": "sku", "category_path": "categories", "image_url": "image",
                    "attributes.popularity": "popularity"},
        "defaults": {"currency": "USD"},
        "category_depth": None,
    },
}


class CatalogImportError(ValueError):
    """The file or the options cannot be imported at all (as opposed to a rejected row)."""


def parse_mapping(text: str | None) -> dict[str, str]:
    """Parse "field=source,field=source|fallback" into a mapping dict."""
    mapping: dict[str, str] = {}
    for pair in (text or "").split(","):
        if not pair.strip():
            continue
        target, sep, source = pair.partition("=")
        target, source = target.strip(), source.strip()
        if not sep or not target or not source:
            raise CatalogImportError(f"invalid mapping entry {pair!r}: expected field=source")
        if target not in PRODUCT_FIELDS and target != "category_path" and not target.startswith("attributes."):
            raise CatalogImportError(
                f"unknown product field {target!r} in the mapping; known: {', '.join(PRODUCT_FIELDS)}, "
                "category_path, attributes.<key>"
            )
        mapping[target] = source
    return mapping


def category_id_for(path: list[str]) -> str:
    """Derive a stable category id from the names from the root down: a slug and a hash of the path."""
    slug = _SLUG.sub("-", path[-1].casefold()).strip("-")[:40] or "category"
    digest = hashlib.sha1(" > ".join(name.casefold() for name in path).encode()).hexdigest()[:10]
    return f"{slug}-{digest}"


def _read_rows(path: Path, file_format: str) -> Iterator[tuple[int, Any]]:
    """Yield (line number, row) pairs; a JSON line that does not parse yields an Exception."""
    with path.open(encoding="utf-8", newline="") as handle:
        if file_format == "csv":
            reader = csv.DictReader(handle)
            for row in reader:
                yield reader.line_num, row
            return
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, exc


def _first_present(row: dict[str, Any], sources: str) -> Any:
    for source in sources.split("|"):
        value = row.get(source.strip())
        if value is not None and value != "":
            return value
    return None


def _split_path(value: Any, depth: int | None) -> list[str]:
    if isinstance(value, str):
        separator = ">>" if ">>" in value else ">"
        value = value.split(separator)
    if not isinstance(value, list):
        return []
    names = [str(name).strip()[:CATEGORY_NAME_MAX_LENGTH] for name in value if str(name).strip()]
    return names[:depth] if depth else names


def map_row(row: dict[str, Any], mapping: dict[str, str], defaults: dict[str, Any], depth: int | None) -> tuple[dict, list[str]]:
    """Turn one source row into a raw product dict and its category names (not validated yet)."""
    product: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for target in (*PRODUCT_FIELDS, *[t for t in mapping if t.startswith("attributes.")]):
        value = _first_present(row, mapping.get(target, target))
        if value is None:
            value = defaults.get(target)
        if value is None:
            continue
        if target.startswith("attributes."):
            attributes[target.split(".", 1)[1]] = value if isinstance(value, str) else json.dumps(value)
        elif target in _INTEGER_FIELDS and isinstance(value, str) and value.strip().isdigit():
            product[target] = int(value)
        else:
            product[target] = value
    if attributes:
        product["attributes"] = {**(product.get("attributes") or {}), **attributes}
    names = _split_path(_first_present(row, mapping.get("category_path", "category_path")), depth)
    return product, names


def _ensure_categories(paths: list[list[str]], known: dict[str, dict], *, tag: str) -> tuple[dict[str, str], int]:
    """Create the categories of these paths that do not exist; return each leaf's id by path and how many were created."""
    new = []
    now = catalog.now_utc()
    leaf_ids: dict[str, str] = {}
    for names in paths:
        parent = None
        for level in range(1, len(names) + 1):
            category_id = category_id_for(names[:level])
            if category_id not in known:
                category = {"id": category_id, "name": names[level - 1], "parent_id": parent, "created_at": now,
                            "updated_at": now, "version": catalog.next_version(), "deleted": False}
                known[category_id] = category
                new.append(category)
            parent = category_id
        leaf_ids[" > ".join(names)] = parent
    catalog.insert_categories(new, tag=tag)
    return leaf_ids, len(new)


def import_catalog(
    path: str | Path,
    file_format: str = "jsonl",
    mapping: dict[str, str] | None = None,
    *,
    defaults: dict[str, Any] | None = None,
    category_depth: int | None = None,
    batch_size: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Load a catalog file in batches of `batch_size` rows and return a summary.

    Each batch is validated and upserted like POST /products/bulk, and its
    indexing is queued. The summary counts read, created, updated and rejected
    rows, and lists the first rejected ones with their line and errors.
    """
    path = Path(path)
    if file_format not in FORMATS:
        raise CatalogImportError(f"unknown format {file_format!r}; use one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise CatalogImportError(f"{path} is not a readable file")
    if not 1 <= batch_size <= 1000:
        raise CatalogImportError("batch_size must be between 1 and 1000 (the bulk limit)")
    mapping, defaults = mapping or {}, defaults or {}

    tag = "cli.catalog.import"
    started = time.monotonic()
    known = catalog.load_categories(tag=tag)
    summary: dict[str, Any] = {"read": 0, "created": 0, "updated": 0, "rejected": 0,
                               "categories_created": 0, "rejected_rows": []}
    batch: list[tuple[int, Any]] = []
    for number, row in _read_rows(path, file_format):
        summary["read"] += 1
        batch.append((number, row))
        if len(batch) >= batch_size:
            _import_batch(batch, mapping, defaults, category_depth, known, summary, tag=tag)
            if progress:
                progress(len(batch))
            batch = []
    if batch:
        _import_batch(batch, mapping, defaults, category_depth, known, summary, tag=tag)
        if progress:
            progress(len(batch))

    summary["seconds"] = round(time.monotonic() - started, 3)
    logger.info("catalog_imported path=%s read=%d created=%d updated=%d rejected=%d seconds=%.1f",
                path, summary["read"], summary["created"], summary["updated"], summary["rejected"], summary["seconds"])
    return summary


def _import_batch(batch, mapping, defaults, depth, known, summary, *, tag: str) -> None:
    items, lines, paths, rejected = [], [], [], []
    for line, row in batch:
        if not isinstance(row, dict):
            rejected.append({"line": line, "id": None, "errors": {"_schema": [f"not a JSON object: {row}"]}})
            continue
        product, names = map_row(row, mapping, defaults, depth)
        items.append(product)
        lines.append(line)
        paths.append(names)

    leaf_ids, created = _ensure_categories([names for names in paths if names], known, tag=tag)
    summary["categories_created"] += created
    for product, names in zip(items, paths):
        if names and "category_id" not in product:
            product["category_id"] = leaf_ids[" > ".join(names)]

    result = bulk_upsert(items, tag=tag)
    summary["created"] += result["created"]
    summary["updated"] += result["updated"]
    for item in result["items"]:
        if item["status"] == 422:
            rejected.append({"line": lines[item["index"]], "id": item["id"], "errors": item["errors"]})
    summary["rejected"] += len(rejected)
    room = REJECTED_ROWS_SHOWN - len(summary["rejected_rows"])
    summary["rejected_rows"].extend(sorted(rejected, key=lambda r: r["line"])[:max(room, 0)])
