"""Tasks of the `indexing` queue: keep Elasticsearch in step with the catalog in ClickHouse.

Tasks take product ids and read the current row when they run, so a late or
repeated task indexes the current state. Because the row's version is the
external version, a task that read an older row cannot overwrite a newer document.
"""

from __future__ import annotations

import logging

from celery.exceptions import SoftTimeLimitExceeded

from storage import catalog, clients, indexing
from storage.errors import StorageUnavailable
from tasks.celery_app import app

logger = logging.getLogger(__name__)

# Ids per index_products task sent by bulk writes and imports.
IDS_PER_TASK = 500

_retrying = {
    # Elasticsearch or ClickHouse down: retry with exponential backoff (1, 2,
    # 4 ... 60 s, with jitter) for about an hour, while the API keeps writing.
    "autoretry_for": (StorageUnavailable,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 70,
    "acks_late": True,
    "soft_time_limit": 60,
    "time_limit": 90,
}


@app.task(name="indexing.index_product", **_retrying)
def index_product(product_id: str) -> dict[str, int]:
    """Index one product's current row, or delete its document when the row is a tombstone."""
    return index_products.run([product_id])


@app.task(name="indexing.index_products", **_retrying)
def index_products(product_ids: list[str], same_version: bool = False) -> dict[str, int]:
    """Index the current rows of many products in one bulk request.

    `same_version` also rewrites documents already at the row's version, for
    changes outside the product row (its category's name or place).
    """
    counts = indexing.index_products(product_ids, tag="indexing.index_products", same_version=same_version)
    logger.info("products_indexed count=%d ok=%d stale=%d missing=%d first_id=%s",
                len(product_ids), counts["ok"], counts["stale"], counts["missing"],
                product_ids[0] if product_ids else "-")
    return counts


@app.task(name="indexing.index_category_products", **_retrying)
def index_category_products(category_id: str) -> int:
    """Re-index every product in a category and its descendants, after a rename or a move."""
    categories = catalog.load_categories(tag="indexing.index_category_products", profile=clients.TASK)
    subtree = catalog.descendant_ids(categories, category_id)
    ids = catalog.product_ids_in_categories(subtree, tag="indexing.index_category_products")
    for start in range(0, len(ids), IDS_PER_TASK):
        index_products.delay(ids[start:start + IDS_PER_TASK], same_version=True)
    logger.info("category_products_queued category_id=%s products=%d", category_id, len(ids))
    return len(ids)


def enqueue_products(product_ids: list[str]) -> None:
    """Queue indexing of these products: one task for one id, batches for more."""
    if len(product_ids) == 1:
        index_product.delay(product_ids[0])
        return
    for start in range(0, len(product_ids), IDS_PER_TASK):
        index_products.delay(product_ids[start:start + IDS_PER_TASK])


@app.task(name="indexing.reindex", bind=True, acks_late=True, soft_time_limit=3300, time_limit=3600)
def reindex(self) -> dict:
    """Rebuild the search index from the catalog and swap the alias (one at a time)."""
    alias = clients.settings().elastic_index
    owner = self.request.id or "direct"
    if not indexing.acquire_reindex_lock(alias, owner):
        running = indexing.reindex_lock_owner(alias)
        logger.warning("reindex_skipped alias=%s running_task_id=%s", alias, running)
        return {"status": "skipped", "running_task_id": running}

    def report(phase: str, done: int, total: int) -> None:
        if self.request.id:
            self.update_state(state="PROGRESS", meta={"phase": phase, "done": done, "total": total})

    try:
        summary = indexing.reindex(progress=report)
    except SoftTimeLimitExceeded:
        logger.error("reindex_timed_out alias=%s task_id=%s", alias, owner)
        raise
    finally:
        indexing.release_reindex_lock(alias, owner)
    return {"status": "done", **summary}
