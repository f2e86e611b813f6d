"""Product popularity from the events table, copied into the search documents for sort=popularity."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from storage import clients, popularity, search, search_index
from storage.search import SearchRequest
from tests.search.conftest import category_path


@pytest.fixture()
def popularity_alias(storage_ready):
    """An alias of its own with three products whose ids no other test uses."""
    token = uuid.uuid4().hex[:8]
    alias = f"{storage_ready.elastic_index}_popularity_{token}"
    ids = [f"pop-{token}-{n}" for n in (1, 2, 3)]
    search_index.ensure_index(alias)
    documents = [
        search_index.build_document(
            {"id": pid, "name": f"Lamp {n}", "brand": "Lumo", "category_id": "home", "price": 10 + n,
             "in_stock": True, "version": 7},
            category_path("home"),
        )
        for n, pid in enumerate(ids, start=1)
    ]
    search.load_documents(alias, documents)
    yield alias, ids
    search_index.drop_all(alias)


def _insert_events(rows: list[tuple[str, str, int, datetime]]) -> None:
    columns = ("event_id", "event_type", "timestamp", "received_at", "product_id", "session_id", "user_id",
               "query_id", "position", "quantity", "price", "currency", "order_id")
    values = [
        (uuid.uuid4().hex, kind, at.replace(tzinfo=None), at.replace(tzinfo=None), product_id, "s", "", "", 0,
         quantity, Decimal("1.00"), "USD", "")
        for kind, product_id, quantity, at in rows
    ]
    clients.clickhouse().insert("events", columns, values, tag="tests.popularity")


def _document(alias: str, product_id: str) -> dict:
    return clients.elastic().get(index=alias, id=product_id).body


def test_popularity_weights_recent_events(popularity_alias):
    alias, (first, second, third) = popularity_alias
    now = datetime.now(timezone.utc)
    _insert_events([
        ("view", first, 0, now), ("view", first, 0, now), ("click", first, 0, now),
        ("purchase", second, 2, now),
        ("view", third, 0, now - timedelta(days=40)),
    ])

    scores = popularity.compute_popularity(tag="tests.popularity")
    assert scores[first] == 2 * popularity.WEIGHTS["view"] + popularity.WEIGHTS["click"]
    assert scores[second] == 2 * popularity.WEIGHTS["purchase"]
    assert third not in scores


def test_update_keeps_external_version(popularity_alias):
    alias, (first, second, third) = popularity_alias
    now = datetime.now(timezone.utc)
    _insert_events([("add_to_cart", third, 1, now), ("view", first, 0, now)])

    outcome = popularity.update_popularity(alias, tag="tests.popularity")
    assert outcome["updated"] == 2
    assert outcome["conflicts"] == 0
    assert _document(alias, third)["_source"]["popularity"] == popularity.WEIGHTS["add_to_cart"]
    assert _document(alias, third)["_version"] == 7
    assert popularity.stored_popularity([third], tag="tests.popularity") == {third: 5.0}

    # The catalog's next write (a higher version) still succeeds.
    clients.elastic(clients.TASK).index(index=alias, id=third, version=8, version_type="external",
                                        document=_document(alias, third)["_source"])
    assert _document(alias, third)["_version"] == 8

    # An unchanged score rewrites nothing (the comparison reads searchable, refreshed values).
    clients.elastic().indices.refresh(index=alias)
    assert popularity.apply_to_index(alias, popularity.compute_popularity(tag="tests.popularity"))["updated"] == 0


def test_sort_by_popularity_after_update(popularity_alias):
    alias, (first, second, third) = popularity_alias
    now = datetime.now(timezone.utc)
    _insert_events([("purchase", second, 1, now)] + [("view", third, 0, now)] * 3)
    popularity.update_popularity(alias, tag="tests.popularity")
    clients.elastic().indices.refresh(index=alias)

    result = search.search(alias, SearchRequest(q="lamp", sort="popularity"))
    assert [hit["id"] for hit in result.hits] == [second, third, first]


def test_popularity_task_is_registered_and_scheduled():
    import celeryconfig
    from tasks.celery_app import app

    app.loader.import_default_modules()
    assert "aggregation.update_popularity" in app.tasks
    assert "aggregation.refresh_query_suggestions" in app.tasks
    entries = [entry for entry in celeryconfig.beat_schedule.values()
               if entry["task"] == "aggregation.update_popularity"]
    assert len(entries) == 1


@pytest.fixture()
def catalog_settings(storage_ready, restore_clients):
    """A ClickHouse database and an alias of their own, so catalog writes touch no other test's data."""
    from storage import migrations
    from storage.setup import init_storage

    token = uuid.uuid4().hex[:8]
    settings = storage_ready.model_copy(update={
        "clickhouse_db": f"{storage_ready.clickhouse_db}_pop_{token}",
        "elastic_index": f"{storage_ready.elastic_index}_pop_{token}",
    })
    init_storage(settings)
    yield settings
    clients.configure(settings)
    search_index.drop_all(settings.elastic_index)
    migrations.drop_database(settings)


def _write_product(product_id: str, name: str) -> None:
    from storage import catalog

    now = catalog.now_utc()
    catalog.insert_products([{
        "id": product_id, "name": name, "description": "", "brand": "Lumo", "category_id": "",
        "price": Decimal("19.90"), "currency": "USD", "in_stock": True, "stock_quantity": 3, "rating": None,
        "review_count": 0, "image_url": "", "attributes": {}, "created_at": now, "updated_at": now,
        "version": catalog.next_version(), "deleted": False,
    }], tag="tests.popularity", profile=clients.TASK)


def test_catalog_writes_keep_popularity(catalog_settings):
    from storage import indexing

    alias = catalog_settings.elastic_index
    _write_product("lamp-1", "Desk Lamp")
    indexing.index_products(["lamp-1"], tag="tests.popularity")
    _insert_events([("purchase", "lamp-1", 1, datetime.now(timezone.utc))])
    popularity.update_popularity(alias, tag="tests.popularity")
    assert _document(alias, "lamp-1")["_source"]["popularity"] == popularity.WEIGHTS["purchase"]

    # A new catalog version of the product is indexed with its stored score.
    _write_product("lamp-1", "Desk Lamp LED")
    indexing.index_products(["lamp-1"], tag="tests.popularity")
    document = _document(alias, "lamp-1")["_source"]
    assert document["name"] == "Desk Lamp LED"
    assert document["popularity"] == popularity.WEIGHTS["purchase"]

    # So is every product of a full reindex.
    indexing.reindex()
    assert _document(alias, "lamp-1")["_source"]["popularity"] == popularity.WEIGHTS["purchase"]
