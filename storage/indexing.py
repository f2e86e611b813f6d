"""Writes to the product search index: single products, bulk loads and the full reindex.

Every document carries the catalog row's version as an external version, so
Elasticsearch keeps the newest document whatever order the writes arrive in:
an older write gets a version conflict, which counts as done.

While a full reindex runs, the index being built has a second alias,
"<alias>-building". Single-product writes go to both aliases with
`require_alias`, so they reach the new index too, and a write to the building
alias after it is gone fails harmlessly with 404 instead of creating an index.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
from elasticsearch import ApiError, helpers
from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import TransportError
from redis import exceptions as redis_errors

from storage import catalog, clients, popularity, search_index
from storage.errors import StorageError, StorageUnavailable

logger = logging.getLogger(__name__)

# Documents per bulk request of the full reindex, and bulk requests in flight.
REINDEX_CHUNK_SIZE = 1000
BULK_THREADS = 2
# The reindex lock lasts longer than the task's hard time limit, so it cannot
# expire under a running reindex. A crashed reindex frees it after this many seconds.
REINDEX_LOCK_SECONDS = 3900
# The catch-up after the alias swap re-indexes rows written since this many
# seconds before the building alias existed. The margin covers a writer that
# took its version from the clock before that moment but inserted the row
# after the stream's snapshot. A single write takes milliseconds, and a bulk of
# 1,000 rows about a second.
CATCH_UP_MARGIN_SECONDS = 5

_LOADING_SETTINGS = {"refresh_interval": "-1", "translog.durability": "async"}
_LIVE_SETTINGS = {"refresh_interval": search_index.INDEX_SETTINGS["index"]["refresh_interval"], "translog.durability": "request"}

ProgressCallback = Callable[[str, int, int], None]


def building_alias(alias: str) -> str:
    return f"{alias}-building"


def _es_call(operation: str, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (EsConnectionError, TransportError) as exc:
        raise StorageUnavailable("elasticsearch", type(exc).__name__) from exc
    except ApiError as exc:
        if exc.meta.status in (429, 502, 503, 504):
            raise StorageUnavailable("elasticsearch", f"{operation} returned {exc.meta.status}") from exc
        raise StorageError(f"{operation} failed with {exc.meta.status}: {exc.message}") from exc


def _action(
    product: dict[str, Any], index: str, categories: dict[str, dict[str, Any]], version_type: str = "external"
) -> dict[str, Any]:
    """Build one bulk action: index the live product, or delete a tombstone, at its version."""
    action: dict[str, Any] = {
        "_index": index,
        "_id": product["id"],
        "version": product["version"],
        "version_type": version_type,
    }
    if product["deleted"]:
        action["_op_type"] = "delete"
    else:
        action["_op_type"] = "index"
        action["_source"] = search_index.build_document(
            product, catalog.category_path(categories, product["category_id"])
        )
    return action


def _item_outcome(item: dict[str, Any], building: str) -> str:
    """Classify one bulk item result as ok, stale, skipped or failed."""
    (op_type, result), = item.items()
    status = result.get("status", 500)
    if status < 300 or (op_type == "delete" and status == 404 and "error" not in result):
        return "ok"
    if status == 409:
        # A newer version is already indexed: this write is obsolete, not failed.
        return "stale"
    if result.get("_index") == building:
        # 404: no reindex is running. Any other failure there is repaired by
        # the reindex's catch-up, so it must not fail the live write.
        if status != 404:
            logger.warning("building_index_write_failed id=%s status=%d", result.get("_id"), status)
        return "skipped"
    return "failed"


def index_products(product_ids: list[str], *, tag: str, same_version: bool = False) -> dict[str, int]:
    """Index the current catalog rows of these ids (delete tombstoned ones) in the live and building index.

    With `same_version`, a document of the same version is overwritten too
    (external_gte): a category rename changes documents, not product versions.
    Raises StorageUnavailable when Elasticsearch or ClickHouse cannot be
    reached (callers retry) and StorageError when documents are rejected.
    """
    rows = catalog.get_product_rows(product_ids, tag=tag, profile=clients.TASK)
    counts = {"ok": 0, "stale": 0, "skipped": 0, "failed": 0, "missing": len(set(product_ids)) - len(rows)}
    if not rows:
        return counts
    # The documents keep the score that aggregation.update_popularity computed.
    scores = popularity.stored_popularity(list(rows), tag=tag)
    rows = {pid: {**row, "popularity": scores.get(pid, 0.0)} for pid, row in rows.items()}

    alias = clients.settings().elastic_index
    building = building_alias(alias)
    categories = catalog.load_categories(tag=tag, profile=clients.TASK)
    version_type = "external_gte" if same_version else "external"
    # Deletes go to the live alias only: a delete does not honour require_alias
    # and would create a stray "-building" index when no reindex runs. The
    # reindex's catch-up re-applies every tombstone written while it ran.
    actions = [
        _action(row, index, categories, version_type)
        for row in rows.values()
        for index in ((alias,) if row["deleted"] else (alias, building))
    ]

    operations: list[dict[str, Any]] = []
    for action in actions:
        meta = {key: action[key] for key in ("_index", "_id", "version", "version_type")}
        operations.append({action["_op_type"]: meta})
        if "_source" in action:
            operations.append(action["_source"])
    es = clients.elastic(clients.TASK)
    response = _es_call("bulk", lambda: es.bulk(operations=operations, require_alias=True))

    failures = []
    for item in response["items"]:
        outcome = _item_outcome(item, building)
        counts[outcome] += 1
        if outcome == "failed":
            failures.append(item)
    if failures:
        (_op, first), = failures[0].items()
        logger.error("index_products_rejected failed=%d first_id=%s error=%s",
                     len(failures), first.get("_id"), first.get("error"))
        if any(next(iter(item.values())).get("status", 500) >= 500 for item in failures):
            raise StorageUnavailable("elasticsearch", "bulk items failed with a server error")
        raise StorageError(f"{len(failures)} documents were rejected by Elasticsearch")
    return counts


# --- the full reindex ---------------------------------------------------------


def acquire_reindex_lock(alias: str, owner: str) -> bool:
    """Take the lock that lets one reindex run at a time; True when `owner` holds it now."""
    key = f"reindex-lock:{alias}"
    try:
        redis = clients.redis_client()
        if redis.set(key, owner, nx=True, ex=REINDEX_LOCK_SECONDS):
            return True
        return (redis.get(key) or b"").decode() == owner
    except redis_errors.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc


def reindex_lock_owner(alias: str) -> str | None:
    try:
        owner = clients.redis_client().get(f"reindex-lock:{alias}")
    except redis_errors.RedisError as exc:
        raise StorageUnavailable("redis", type(exc).__name__) from exc
    return owner.decode() if owner else None


_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def release_reindex_lock(alias: str, owner: str) -> None:
    """Release the reindex lock if `owner` still holds it."""
    try:
        clients.redis_client().eval(_RELEASE_SCRIPT, 1, f"reindex-lock:{alias}", owner)
    except redis_errors.RedisError as exc:
        logger.warning("reindex_lock_release_failed alias=%s owner=%s error=%s", alias, owner, type(exc).__name__)


def _create_building_index(alias: str, shards: int, replicas: int) -> str:
    es = clients.elastic(clients.TASK)
    _drop_leftovers(alias)
    name = search_index.new_index_name(alias)
    body = search_index.index_body(shards, 0)
    # No refreshes, no replicas and no fsync per request while loading; the
    # settings of a live index are restored before the swap. A crash mid-load
    # loses only this index, which nothing searches yet.
    body["settings"]["index"] = {**body["settings"]["index"], **_LOADING_SETTINGS}
    _es_call("create index", lambda: es.indices.create(index=name, aliases={building_alias(alias): {}}, **body))
    logger.info("reindex_index_created index=%s alias=%s replicas_after=%d", name, alias, replicas)
    return name


def _drop_leftovers(alias: str) -> None:
    """Delete what a crashed reindex left behind under the building alias's name.

    The caller holds the reindex lock, so no other reindex is using them, and
    searches never read them.
    """
    es = clients.elastic(clients.TASK)
    building = building_alias(alias)
    if _es_call("check alias", lambda: es.indices.exists_alias(name=building)):
        leftovers = sorted(_es_call("read alias", lambda: es.indices.get_alias(name=building)))
    elif _es_call("check index", lambda: es.indices.exists(index=building)):
        # A concrete index with the alias's name would block creating the alias.
        leftovers = [building]
    else:
        return
    logger.warning("reindex_leftovers_deleted indices=%s", ",".join(leftovers))
    _drop_indices([name for name in leftovers if name not in search_index.current_indices(alias)])


def _serialized(action: dict[str, Any]) -> dict[str, Any]:
    """Replace the action's document with its JSON bytes, which the bulk helpers send as they are.

    orjson serializes several times faster than the client's json module,
    which leaves more of the GIL to the thread waiting on Elasticsearch.
    """
    if "_source" in action:
        action["_source"] = orjson.dumps(action["_source"])
    return action


class _SharedIterator:
    """An iterator that several threads may draw from; each item goes to exactly one of them."""

    def __init__(self, items: Iterator[Any]):
        self._items = items
        self._lock = threading.Lock()

    def __iter__(self) -> _SharedIterator:
        return self

    def __next__(self) -> Any:
        with self._lock:
            return next(self._items)


def _bulk_load(
    index: str, products: Iterable[dict[str, Any]], total: int, progress: ProgressCallback | None, phase: str
) -> dict[str, int]:
    """Stream products into `index` through BULK_THREADS concurrent streaming_bulk loops and count the outcomes.

    While one thread waits for Elasticsearch, the other reads ClickHouse and
    builds the next chunk, and Elasticsearch gets two bulk requests to spread
    over its write threads.
    """
    categories = catalog.load_categories(tag="indexing.reindex", profile=clients.TASK)
    products = popularity.with_popularity(products, tag="indexing.reindex")
    actions = _SharedIterator(_serialized(_action(product, index, categories)) for product in products)
    counts = {"ok": 0, "stale": 0, "failed": 0}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def consume() -> None:
        es = clients.elastic(clients.TASK)
        results = helpers.streaming_bulk(
            es, actions, chunk_size=REINDEX_CHUNK_SIZE, raise_on_error=False, max_retries=5,
            initial_backoff=1, max_backoff=30, yield_ok=True,
        )
        try:
            for ok, item in _guard(results):
                outcome = _bulk_outcome(ok, item, index)
                with lock:
                    counts[outcome] += 1
                    done = sum(counts.values())
                    if progress and done % REINDEX_CHUNK_SIZE == 0:
                        progress(phase, done, total)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)

    # Daemon threads, so a time limit or Ctrl-C in the calling thread ends the process without waiting for them.
    threads = [threading.Thread(target=consume, name=f"bulk-{n}", daemon=True) for n in range(BULK_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    if progress:
        progress(phase, sum(counts.values()), total)
    return counts


def _bulk_outcome(ok: bool, item: dict[str, Any], index: str) -> str:
    (_op, result), = item.items()
    status = result.get("status", 500)
    if ok or (status == 404 and "error" not in result):
        return "ok"
    if status == 409:
        return "stale"
    logger.error("reindex_document_rejected index=%s id=%s error=%s", index, result.get("_id"), result.get("error"))
    return "failed"


def _guard(results: Iterator) -> Iterator:
    try:
        yield from results
    except (EsConnectionError, TransportError) as exc:
        raise StorageUnavailable("elasticsearch", type(exc).__name__) from exc


def _swap_alias(alias: str, new_index: str, replicas: int) -> list[str]:
    """Make the new index searchable, point the alias at it alone in one call, and return the old indices."""
    es = clients.elastic(clients.TASK)
    live_settings = {**_LIVE_SETTINGS, "number_of_replicas": replicas}
    _es_call("update settings", lambda: es.indices.put_settings(index=new_index, settings={"index": live_settings}))
    _es_call("refresh", lambda: es.indices.refresh(index=new_index))

    old = [name for name in search_index.current_indices(alias) if name != new_index]
    actions: list[dict[str, Any]] = [{"remove": {"index": name, "alias": alias}} for name in old]
    actions.append({"add": {"index": new_index, "alias": alias}})
    actions.append({"remove": {"index": new_index, "alias": building_alias(alias)}})
    _es_call("update aliases", lambda: es.indices.update_aliases(actions=actions))
    logger.info("reindex_alias_swapped alias=%s index=%s old=%s", alias, new_index, ",".join(old) or "-")
    return old


def _drop_indices(names: list[str]) -> None:
    es = clients.elastic(clients.TASK)
    for name in names:
        _es_call("delete index", lambda name=name: es.options(ignore_status=404).indices.delete(index=name))
        logger.info("reindex_old_index_deleted index=%s", name)


def reindex(progress: ProgressCallback | None = None) -> dict[str, Any]:
    """Rebuild the search index from ClickHouse into a new index and swap the alias to it.

    The caller holds the reindex lock. Products written while this runs reach
    the new index twice over: their indexing tasks also write to the building
    alias, and after the swap every row newer than the start is indexed again.
    """
    settings = clients.settings()
    alias = settings.elastic_index
    started = time.monotonic()

    new_index = _create_building_index(alias, settings.elastic_shards, settings.elastic_replicas)
    start_version = catalog.next_version() - CATCH_UP_MARGIN_SECONDS * 1_000_000
    try:
        total = catalog.count_live_products(tag="indexing.reindex")
        loaded = _bulk_load(new_index, catalog.iter_product_rows(tag="indexing.reindex"), total, progress, "loading")
        old = _swap_alias(alias, new_index, settings.elastic_replicas)
    except BaseException:
        # Nothing points searches at the half-built index: drop it and keep the old one.
        logger.exception("reindex_failed index=%s", new_index)
        _drop_indices_quietly([new_index])
        raise
    _drop_indices(old)

    recent = catalog.iter_product_rows(tag="indexing.reindex", min_version=start_version, include_deleted=True)
    caught_up = _bulk_load(alias, recent, 0, progress, "catching_up")

    summary = {
        "index": new_index,
        "indexed": loaded["ok"],
        "stale": loaded["stale"],
        "failed": loaded["failed"] + caught_up["failed"],
        "caught_up": caught_up["ok"],
        "deleted_indices": old,
        "seconds": round(time.monotonic() - started, 3),
    }
    logger.info("reindex_done index=%s indexed=%d failed=%d caught_up=%d seconds=%.1f",
                new_index, summary["indexed"], summary["failed"], summary["caught_up"], summary["seconds"])
    return summary


def _drop_indices_quietly(names: list[str]) -> None:
    try:
        _drop_indices(names)
    except StorageError as exc:
        logger.warning("reindex_cleanup_failed indices=%s error=%s", ",".join(names), exc)
