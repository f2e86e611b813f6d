"""Indexing through a real worker: writes reach the index, external versions order them."""

from __future__ import annotations

import threading

from storage import clients, indexing
from tests.catalog.conftest import product_body, search_document
from tests.conftest import wait_for


def _indexed_at(product_id: str, version: int):
    return lambda: (doc := search_document(product_id)) is not None and doc["_version"] == version and doc


def test_created_product_is_indexed_with_path(client, celery_worker, uid):
    client.post("/api/v1/categories", json={"id": f"{uid}-root", "name": "Sport"})
    client.post("/api/v1/categories", json={"id": f"{uid}-leaf", "name": "Running", "parent_id": f"{uid}-root"})
    created = client.post("/api/v1/products", json=product_body(f"{uid}-1", category_id=f"{uid}-leaf", price="19.99"))
    version = created.get_json()["version"]

    document = wait_for(_indexed_at(f"{uid}-1", version), message="the product document")

    assert document["category_path"] == [f"{uid}-root", f"{uid}-leaf"]
    assert document["category_names"] == ["Sport", "Running"]
    assert document["price"] == 19.99
    assert document["price_exact"] == "19.99"
    assert document["version"] == version
    assert "blue" in document["attribute_pairs"][0]


def test_deleted_product_leaves_index(client, celery_worker, uid):
    version = client.post("/api/v1/products", json=product_body(f"{uid}-1")).get_json()["version"]
    wait_for(_indexed_at(f"{uid}-1", version), message="the product document")

    client.delete(f"/api/v1/products/{uid}-1")

    wait_for(lambda: search_document(f"{uid}-1") is None, message="the document to be deleted")


def test_racing_updates_leave_newest_version(app, admin_token, client, celery_worker, uid):
    client.post("/api/v1/products", json=product_body(f"{uid}-1"))
    errors = []

    def update(worker_number: int) -> None:
        own_client = app.test_client()
        own_client.environ_base["HTTP_X_API_KEY"] = admin_token
        for step in range(15):
            response = own_client.patch(f"/api/v1/products/{uid}-1", json={"price": f"{worker_number}.{step:02d}"})
            if response.status_code != 200:
                errors.append(response.status_code)

    threads = [threading.Thread(target=update, args=(number,)) for number in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    final = client.get(f"/api/v1/products/{uid}-1").get_json()
    document = wait_for(_indexed_at(f"{uid}-1", final["version"]), message="the newest version in the index")
    assert document["price_exact"] == final["price"]


def test_stale_write_counts_as_done(client, celery_worker, uid):
    version = client.post("/api/v1/products", json=product_body(f"{uid}-1")).get_json()["version"]
    wait_for(_indexed_at(f"{uid}-1", version), message="the product document")

    counts = indexing.index_products([f"{uid}-1"], tag="test")

    assert counts["stale"] == 1
    assert counts["failed"] == 0
    assert search_document(f"{uid}-1")["_version"] == version


def test_category_rename_reindexes_products(client, celery_worker, uid):
    client.post("/api/v1/categories", json={"id": f"{uid}-c", "name": "Sneakers"})
    version = client.post("/api/v1/products", json=product_body(f"{uid}-1", category_id=f"{uid}-c")).get_json()["version"]
    wait_for(_indexed_at(f"{uid}-1", version), message="the product document")

    client.put(f"/api/v1/categories/{uid}-c", json={"name": "Trainers", "parent_id": None})

    wait_for(lambda: (search_document(f"{uid}-1") or {}).get("category_names") == ["Trainers"],
             message="the new category name in the document")


def test_ancestor_filter_and_keyword_sort(client, celery_worker, uid):
    client.post("/api/v1/categories", json={"id": f"{uid}-root", "name": "Home"})
    client.post("/api/v1/categories", json={"id": f"{uid}-leaf", "name": "Mugs", "parent_id": f"{uid}-root"})
    versions = {}
    for number, brand in enumerate(["Zeta", "Alpha"]):
        body = product_body(f"{uid}-{number}", brand=brand, category_id=f"{uid}-leaf")
        versions[body["id"]] = client.post("/api/v1/products", json=body).get_json()["version"]
    for product_id, version in versions.items():
        wait_for(_indexed_at(product_id, version), message=f"{product_id} indexed")

    es = clients.elastic(clients.TASK)
    alias = clients.settings().elastic_index
    es.indices.refresh(index=alias)
    result = es.search(index=alias, query={"term": {"category_path": f"{uid}-root"}},
                       sort=[{"brand.keyword": "asc"}, {"price": "desc"}])

    assert [hit["_source"]["brand"] for hit in result["hits"]["hits"]] == ["Alpha", "Zeta"]
