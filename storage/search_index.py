"""The product search index: its mapping, its alias, and the document built from a product.

Searches read an alias (settings.elastic_index). Each physical index is named
"<alias>-v<UTC timestamp>", so a full reindex can build a new one beside the
live one and swap the alias in one atomic call.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal
from functools import lru_cache
from typing import Any

from elasticsearch import ApiError, ConnectionError as EsConnectionError, NotFoundError, TransportError

from storage import clients
from storage.errors import StorageError, StorageUnavailable
from storage.text_analysis import analyze, fold

logger = logging.getLogger(__name__)

# Keyword values longer than this are kept in _source but not indexed for exact
# matching (Lucene rejects terms over 32 KB; long names are never filtered on).
_KEYWORD_LIMIT = 512

_analyzed_text = {"type": "text", "analyzer": "whitespace"}

MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "id": {"type": "keyword"},
        # The original text, analyzed by the core `standard` analyzer: exact
        # words, CJK per character, and highlighting on the text shown to users.
        "name": {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": _KEYWORD_LIMIT}},
        },
        "description": {"type": "text"},
        "brand": {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": _KEYWORD_LIMIT}},
        },
        # The same texts after storage.text_analysis.analyze: folded and stemmed.
        "name_analyzed": _analyzed_text,
        "description_analyzed": _analyzed_text,
        "brand_analyzed": _analyzed_text,
        "category_analyzed": _analyzed_text,
        "category_id": {"type": "keyword"},
        # Ids of the category and all its ancestors, so a filter on any
        # ancestor matches; names along the path for full-text and facets.
        "category_path": {"type": "keyword"},
        "category_names": {
            "type": "text",
            "fields": {"keyword": {"type": "keyword", "ignore_above": _KEYWORD_LIMIT}},
        },
        # A double is exact enough to filter and sort on; the exact decimal
        # stays in price_exact and in ClickHouse.
        "price": {"type": "double"},
        "price_exact": {"type": "keyword", "index": False},
        "currency": {"type": "keyword"},
        "in_stock": {"type": "boolean"},
        "stock_quantity": {"type": "integer"},
        "rating": {"type": "float"},
        "review_count": {"type": "integer"},
        "image_url": {"type": "keyword", "index": False, "doc_values": False},
        # Free attributes: the object is kept as given but not mapped field by
        # field (a shop's keys are unbounded); "key=value" pairs filter exactly.
        "attributes": {"type": "object", "enabled": False},
        "attribute_pairs": {"type": "keyword", "ignore_above": _KEYWORD_LIMIT},
        "created_at": {"type": "date"},
        "updated_at": {"type": "date"},
        "version": {"type": "long"},
        # Sales and clicks from the analytics, for sort=popularity.
        "popularity": {"type": "float"},
        # Autocomplete on folded product names.
        "suggest": {"type": "completion", "analyzer": "simple", "max_input_length": 100},
    },
}

INDEX_SETTINGS: dict[str, Any] = {
    "index": {
        "max_result_window": 10_000,
        "refresh_interval": "1s",
    }
}


def index_body(shards: int, replicas: int) -> dict[str, Any]:
    return {
        "settings": {**INDEX_SETTINGS, "number_of_shards": shards, "number_of_replicas": replicas},
        "mappings": MAPPING,
    }


def new_index_name(alias: str, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S%f")
    return f"{alias}-v{stamp}"


# Names, brands and category paths repeat across a catalog (variants of one
# product, thousands of products per brand), so a full reindex analyzes each
# distinct short text once. Descriptions are long and mostly unique: not cached.
_SHORT_TEXT_CACHE = 65_536


@lru_cache(maxsize=_SHORT_TEXT_CACHE)
def _analyze_short(text: str) -> str:
    return analyze(text)


@lru_cache(maxsize=_SHORT_TEXT_CACHE)
def _fold_short(text: str) -> str:
    return fold(text)


def build_document(product: dict[str, Any], category_path: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """Build the search document of a product; `category_path` runs from the root to its category."""
    path = category_path or []
    category_names = [c["name"] for c in path]
    price = product.get("price")
    attributes = product.get("attributes") or {}
    name = product.get("name") or ""
    return {
        "id": product["id"],
        "name": name,
        "description": product.get("description") or "",
        "brand": product.get("brand") or "",
        "name_analyzed": _analyze_short(name),
        "description_analyzed": analyze(product.get("description") or ""),
        "brand_analyzed": _analyze_short(product.get("brand") or ""),
        "category_analyzed": _analyze_short(" ".join(category_names)),
        "category_id": product.get("category_id") or "",
        "category_path": [c["id"] for c in path] or ([product["category_id"]] if product.get("category_id") else []),
        "category_names": category_names,
        "price": float(price) if price is not None else None,
        "price_exact": str(Decimal(price)) if price is not None else None,
        "currency": product.get("currency"),
        "in_stock": bool(product.get("in_stock")),
        "stock_quantity": product.get("stock_quantity") or 0,
        "rating": product.get("rating"),
        "review_count": product.get("review_count") or 0,
        "image_url": product.get("image_url") or None,
        "attributes": attributes,
        "attribute_pairs": [f"{key}={value}" for key, value in attributes.items()],
        "created_at": _iso(product.get("created_at")),
        "updated_at": _iso(product.get("updated_at")),
        "version": product.get("version") or 0,
        "popularity": product.get("popularity") or 0.0,
        "suggest": {"input": _suggest_inputs(name, product.get("brand") or "")},
    }


def _suggest_inputs(name: str, brand: str) -> list[str]:
    folded = _fold_short(name).strip()
    inputs = [folded[:100]] if folded else []
    # Also complete from the second word on, so "galaxy" finds "Samsung Galaxy ...".
    words = folded.split()
    if len(words) > 1:
        inputs.append(" ".join(words[1:])[:100])
    folded_brand = _fold_short(brand)[:100] if brand else ""
    if folded_brand and folded_brand not in inputs:
        inputs.append(folded_brand)
    return inputs


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.isoformat()
    return str(value)


def ensure_index(alias: str, shards: int = 1, replicas: int = 0) -> str:
    """Create a versioned index behind `alias` unless the alias exists; return the index name."""
    es = clients.elastic(clients.TASK)
    try:
        existing = current_indices(alias)
        if existing:
            return existing[0]
        if es.indices.exists(index=alias):
            raise StorageError(
                f"{alias!r} is a concrete index, not an alias; delete it or choose another ELASTIC_INDEX"
            )
        name = new_index_name(alias)
        es.indices.create(index=name, **index_body(shards, replicas), aliases={alias: {}})
        logger.info("search_index_created index=%s alias=%s", name, alias)
        return name
    except (EsConnectionError, TransportError) as exc:
        raise StorageUnavailable("elasticsearch", type(exc).__name__) from exc


def current_indices(alias: str) -> list[str]:
    """Return the physical indices the alias points to (empty when it does not exist)."""
    es = clients.elastic(clients.TASK)
    try:
        return sorted(es.indices.get_alias(name=alias).keys())
    except NotFoundError:
        return []
    except ApiError as exc:
        raise StorageError(f"reading alias {alias!r} failed: {exc.message}") from exc


def drop_all(alias: str) -> None:
    """Delete every index of this alias's naming scheme (tests clean up with it)."""
    es = clients.elastic(clients.TASK)
    es.options(ignore_status=404).indices.delete(index=f"{alias}-v*", expand_wildcards="all")
