"""Product popularity from recent events, for sort=popularity.

A score per product is computed in ClickHouse from the raw `events` table,
stored in product_popularity, and copied into the search documents.
storage.indexing also adds the stored score to every document it builds. Documents
carry the catalog's version as an external version, so the copy re-indexes
each changed document at its own current version with version_type
external_gte: the version stays the same, the catalog's next write (a higher
version) still wins, and a document that the catalog changed in between
makes the copy of that one document fail with a conflict instead of undoing
the change.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from collections.abc import Iterable, Iterator
from typing import Any

from elasticsearch import ApiError, TransportError, helpers

from storage import clients
from storage.errors import StorageError, StorageUnavailable

logger = logging.getLogger(__name__)

WINDOW_DAYS = 30
# Points per event: a purchase is a stronger signal of interest than a view.
WEIGHTS = {"view": 1, "click": 3, "add_to_cart": 5, "purchase": 10}
_CHUNK = 500


def compute_popularity(*, tag: str, days: int = WINDOW_DAYS) -> dict[str, float]:
    """Return the weighted event count of each product over the last `days` days."""
    rows = clients.clickhouse(clients.TASK).execute(
        """
        SELECT product_id,
               toFloat64(sum(multiIf(event_type = 'view', %(view)s,
                                     event_type = 'click', %(click)s,
                                     event_type = 'add_to_cart', %(add_to_cart)s,
                                     event_type = 'purchase', %(purchase)s * greatest(quantity, 1),
                                     0))) AS score
        FROM events
        WHERE timestamp >= now() - toIntervalDay(%(days)s) AND product_id != ''
        GROUP BY product_id
        """,
        {**WEIGHTS, "days": days},
        tag=tag,
    )
    return {product_id: score for product_id, score in rows}


def stored_popularity(product_ids: list[str] | None = None, *, tag: str,
                      profile: str = clients.TASK) -> dict[str, float]:
    """Return the last computed popularity of these products (of all with a score when None)."""
    where = "WHERE product_id IN %(ids)s" if product_ids is not None else "WHERE popularity > 0"
    if product_ids is not None and not product_ids:
        return {}
    rows = clients.clickhouse(profile).execute(
        f"SELECT product_id, popularity FROM product_popularity FINAL {where}",
        {"ids": tuple(product_ids or ())},
        tag=tag,
    )
    return {product_id: popularity for product_id, popularity in rows}


def with_popularity(products: Iterable[dict[str, Any]], *, tag: str) -> Iterator[dict[str, Any]]:
    """Yield catalog rows with their stored popularity added, for storage.indexing to index.

    Reads every score above zero once, so a full reindex streams its rows
    without a query per chunk.
    """
    scores = stored_popularity(tag=tag)
    for product in products:
        yield {**product, "popularity": scores.get(product["id"], 0.0)}


def store_popularity(scores: dict[str, float], *, tag: str) -> int:
    """Append the scores to product_popularity, with zero for products that have none any more."""
    previous = stored_popularity(tag=tag)
    changed = {pid: score for pid, score in scores.items() if previous.get(pid) != score}
    changed.update({pid: 0.0 for pid in previous if pid not in scores})
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = [(pid, score, now) for pid, score in changed.items()]
    return clients.clickhouse(clients.TASK).insert(
        "product_popularity", ("product_id", "popularity", "computed_at"), rows, tag=tag
    )


def indexed_popularity(alias: str) -> dict[str, float]:
    """Return the popularity of every document behind `alias` that has one above zero."""
    es = clients.elastic(clients.TASK)
    try:
        hits = helpers.scan(es, index=alias, query={"query": {"range": {"popularity": {"gt": 0}}}},
                            _source=["popularity"], size=1000)
        return {hit["_id"]: hit["_source"]["popularity"] for hit in hits}
    except ApiError as exc:
        raise StorageError(f"reading popularity from {alias} failed with status {exc.status_code}") from exc
    except TransportError as exc:
        raise StorageUnavailable("elasticsearch", type(exc).__name__) from exc


def apply_to_index(alias: str, scores: dict[str, float]) -> dict[str, int]:
    """Copy scores into the documents whose popularity differs; products without a score get 0.

    Returns counts: updated, conflicts (the catalog wrote the document in
    between) and missing (no document with that id). The comparison reads
    the searchable state, so a run within a refresh interval (1 s) of the
    previous one may rewrite a document again with the same score.
    """
    current = indexed_popularity(alias)
    wanted = {pid: score for pid, score in scores.items() if current.get(pid, 0.0) != score}
    wanted.update({pid: 0.0 for pid in current if pid not in scores})

    counts = {"updated": 0, "conflicts": 0, "missing": 0}
    ids = sorted(wanted)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        _apply_chunk(alias, {pid: wanted[pid] for pid in chunk}, counts)
    logger.info("popularity_applied alias=%s updated=%d conflicts=%d missing=%d",
                alias, counts["updated"], counts["conflicts"], counts["missing"])
    return counts


def _apply_chunk(alias: str, scores: dict[str, float], counts: dict[str, int]) -> None:
    es = clients.elastic(clients.TASK)
    try:
        found = es.mget(index=alias, ids=list(scores))["docs"]
        operations: list[dict[str, Any]] = []
        for doc in found:
            if not doc.get("found"):
                counts["missing"] += 1
                continue
            source = {**doc["_source"], "popularity": scores[doc["_id"]]}
            operations.append({"index": {"_index": doc["_index"], "_id": doc["_id"],
                                         "version": doc["_version"], "version_type": "external_gte"}})
            operations.append(source)
        if not operations:
            return
        response = es.bulk(operations=operations)
    except ApiError as exc:
        raise StorageError(f"updating popularity in {alias} failed with status {exc.status_code}") from exc
    except TransportError as exc:
        raise StorageUnavailable("elasticsearch", type(exc).__name__) from exc

    for item in response["items"]:
        status = item["index"]["status"]
        if status < 300:
            counts["updated"] += 1
        elif status == 409:
            counts["conflicts"] += 1
        else:
            raise StorageError(f"updating popularity of {item['index']['_id']} failed: {item['index'].get('error')}")


def update_popularity(alias: str, *, tag: str) -> dict[str, int]:
    """Recompute popularity, store it in ClickHouse and copy it into the search documents."""
    scores = compute_popularity(tag=tag)
    stored = store_popularity(scores, tag=tag)
    counts = apply_to_index(alias, scores)
    return {"products": len(scores), "stored": stored, **counts}
