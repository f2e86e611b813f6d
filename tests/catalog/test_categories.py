"""Categories API: the tree, cycles, deletes that would orphan, counts with descendants."""

from __future__ import annotations

from tests.catalog.conftest import product_body


def _category(client, category_id, name, parent_id=None):
    response = client.post("/api/v1/categories", json={"id": category_id, "name": name, "parent_id": parent_id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def _tree(client, uid):
    _category(client, f"{uid}-a", "Sport")
    _category(client, f"{uid}-b", "Shoes", f"{uid}-a")
    _category(client, f"{uid}-c", "Trail", f"{uid}-b")


def test_create_and_get_category_with_path(client, uid):
    _tree(client, uid)

    response = client.get(f"/api/v1/categories/{uid}-c")

    assert response.status_code == 200
    body = response.get_json()
    assert body["name"] == "Trail"
    assert body["parent_id"] == f"{uid}-b"
    assert body["path"] == [f"{uid}-a", f"{uid}-b", f"{uid}-c"]


def test_list_counts_include_descendants(client, uid):
    _tree(client, uid)
    client.post("/api/v1/products", json=product_body(f"{uid}-p1", category_id=f"{uid}-c"))
    client.post("/api/v1/products", json=product_body(f"{uid}-p2", category_id=f"{uid}-c"))
    client.post("/api/v1/products", json=product_body(f"{uid}-p3", category_id=f"{uid}-a"))
    client.post("/api/v1/products", json=product_body(f"{uid}-p4", category_id=f"{uid}-b"))
    client.delete(f"/api/v1/products/{uid}-p4")

    listed = {c["id"]: c for c in client.get("/api/v1/categories").get_json()}

    assert listed[f"{uid}-a"]["product_count"] == 3
    assert listed[f"{uid}-b"]["product_count"] == 2
    assert listed[f"{uid}-c"]["product_count"] == 2


def test_cycle_is_rejected(client, uid):
    _tree(client, uid)

    onto_descendant = client.put(f"/api/v1/categories/{uid}-a", json={"name": "Sport", "parent_id": f"{uid}-c"})
    onto_itself = client.put(f"/api/v1/categories/{uid}-b", json={"name": "Shoes", "parent_id": f"{uid}-b"})

    assert onto_descendant.status_code == 422
    assert "parent_id" in onto_descendant.get_json()["errors"]["json"]
    assert onto_itself.status_code == 422
    assert client.get(f"/api/v1/categories/{uid}-a").get_json()["parent_id"] is None


def test_unknown_parent_is_rejected(client, uid):
    response = client.post("/api/v1/categories", json={"id": f"{uid}-x", "name": "X", "parent_id": f"{uid}-nope"})

    assert response.status_code == 422
    assert "parent_id" in response.get_json()["errors"]["json"]
    assert client.get(f"/api/v1/categories/{uid}-x").status_code == 404


def test_move_and_rename_category(client, uid):
    _tree(client, uid)
    _category(client, f"{uid}-d", "Outdoor")

    response = client.put(f"/api/v1/categories/{uid}-b", json={"name": "Footwear", "parent_id": f"{uid}-d"})

    assert response.status_code == 200
    moved = client.get(f"/api/v1/categories/{uid}-c").get_json()
    assert moved["path"] == [f"{uid}-d", f"{uid}-b", f"{uid}-c"]
    assert client.get(f"/api/v1/categories/{uid}-b").get_json()["name"] == "Footwear"


def test_delete_with_children_or_products_is_409(client, uid):
    _tree(client, uid)
    client.post("/api/v1/products", json=product_body(f"{uid}-p1", category_id=f"{uid}-c"))

    with_children = client.delete(f"/api/v1/categories/{uid}-b")
    with_products = client.delete(f"/api/v1/categories/{uid}-c")

    assert with_children.status_code == 409
    assert with_products.status_code == 409
    assert client.get(f"/api/v1/categories/{uid}-c").status_code == 200


def test_delete_empty_leaf(client, uid):
    _tree(client, uid)

    response = client.delete(f"/api/v1/categories/{uid}-c")

    assert response.status_code == 204
    assert client.get(f"/api/v1/categories/{uid}-c").status_code == 404
    assert client.delete(f"/api/v1/categories/{uid}-c").status_code == 404
    assert client.delete(f"/api/v1/categories/{uid}-b").status_code == 204


def test_duplicate_category_is_409(client, uid):
    _category(client, f"{uid}-a", "Sport")

    response = client.post("/api/v1/categories", json={"id": f"{uid}-a", "name": "Again"})

    assert response.status_code == 409


def test_invalid_category_fields_are_422(client, uid):
    for body in ({"id": f"{uid}-a", "name": ""}, {"id": "bad id", "name": "X"}, {"id": f"{uid}-a"},
                 {"id": f"{uid}-a", "name": "X", "extra": 1}):
        response = client.post("/api/v1/categories", json=body)
        assert response.status_code == 422, body
