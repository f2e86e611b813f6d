"""Products API: CRUD round trips, validation, If-Match, listing and bulk."""

from __future__ import annotations

import json

import pytest

from tests.catalog.conftest import product_body


def _create(client, body):
    response = client.post("/api/v1/products", json=body)
    assert response.status_code == 201, response.get_json()
    return response


def test_create_then_get_returns_product(client, uid):
    body = product_body(f"{uid}-1")
    created = _create(client, body)

    fetched = client.get(f"/api/v1/products/{uid}-1")

    assert fetched.status_code == 200
    product = fetched.get_json()
    for field in ("id", "name", "description", "brand", "currency", "in_stock", "stock_quantity",
                  "rating", "review_count", "image_url", "attributes"):
        assert product[field] == body[field], field
    assert product["price"] == "89.9"
    assert product["version"] == created.get_json()["version"]
    assert fetched.headers["ETag"] == f'"{product["version"]}"'
    assert product["created_at"] == product["updated_at"]


def test_price_keeps_exact_decimal(client, uid):
    _create(client, product_body(f"{uid}-p", price="1234567.0105"))

    product = client.get(f"/api/v1/products/{uid}-p").get_json()

    assert product["price"] == "1234567.0105"


def test_put_replaces_whole_product(client, uid):
    _create(client, product_body(f"{uid}-1"))
    first = client.get(f"/api/v1/products/{uid}-1").get_json()

    response = client.put(f"/api/v1/products/{uid}-1", json={"name": "Road Shoe", "price": 50, "currency": "EUR"})

    assert response.status_code == 200
    product = client.get(f"/api/v1/products/{uid}-1").get_json()
    assert product["name"] == "Road Shoe"
    assert product["price"] == "50"
    assert product["brand"] == ""
    assert product["attributes"] == {}
    assert product["version"] > first["version"]
    assert product["created_at"] == first["created_at"]


def test_put_with_other_id_in_body_rejected(client, uid):
    _create(client, product_body(f"{uid}-1"))

    response = client.put(f"/api/v1/products/{uid}-1", json=product_body(f"{uid}-2"))

    assert response.status_code == 422
    assert "id" in response.get_json()["errors"]["json"]


def test_patch_changes_given_fields_only(client, uid):
    _create(client, product_body(f"{uid}-1"))

    response = client.patch(f"/api/v1/products/{uid}-1", json={"price": "79.00", "in_stock": False})

    assert response.status_code == 200
    product = client.get(f"/api/v1/products/{uid}-1").get_json()
    assert product["price"] == "79"
    assert product["in_stock"] is False
    assert product["name"] == "Trail Running Shoe"
    assert product["attributes"] == {"color": "blue", "size": "42"}


def test_delete_then_get_is_404(client, uid):
    _create(client, product_body(f"{uid}-1"))

    deleted = client.delete(f"/api/v1/products/{uid}-1")

    assert deleted.status_code == 204
    assert client.get(f"/api/v1/products/{uid}-1").status_code == 404
    assert client.delete(f"/api/v1/products/{uid}-1").status_code == 404
    assert client.patch(f"/api/v1/products/{uid}-1", json={"price": 1}).status_code == 404


def test_create_after_delete_gets_higher_version(client, uid):
    first = _create(client, product_body(f"{uid}-1")).get_json()
    client.delete(f"/api/v1/products/{uid}-1")

    second = _create(client, product_body(f"{uid}-1", name="Again")).get_json()

    assert second["version"] > first["version"]
    assert client.get(f"/api/v1/products/{uid}-1").get_json()["name"] == "Again"


def test_create_existing_id_is_409(client, uid):
    _create(client, product_body(f"{uid}-1"))

    response = client.post("/api/v1/products", json=product_body(f"{uid}-1"))

    assert response.status_code == 409
    assert response.get_json()["code"] == 409


def test_get_unknown_product_is_404(client, uid):
    response = client.get(f"/api/v1/products/{uid}-missing")

    assert response.status_code == 404
    assert set(response.get_json()) == {"code", "status", "message", "errors"}


INVALID_FIELDS = [
    ("name", {"name": ""}),
    ("name", {"name": "x" * 501}),
    ("description", {"description": "x" * 20_001}),
    ("brand", {"brand": "x" * 201}),
    ("price", {"price": -1}),
    ("price", {"price": "1.00001"}),
    ("price", {"price": "100000000000000"}),
    ("price", {"price": "NaN"}),
    ("price", {"price": "ten"}),
    ("currency", {"currency": "eur"}),
    ("currency", {"currency": "EURO"}),
    ("rating", {"rating": 5.5}),
    ("stock_quantity", {"stock_quantity": -1}),
    ("stock_quantity", {"stock_quantity": "12"}),
    ("review_count", {"review_count": 2**32}),
    ("image_url", {"image_url": "ftp://img.example.com/a.jpg"}),
    ("image_url", {"image_url": "not a url"}),
    ("attributes", {"attributes": {f"k{i}": "v" for i in range(101)}}),
    ("attributes", {"attributes": {"k" * 101: "v"}}),
    ("attributes", {"attributes": {"color": "x" * 501}}),
    ("attributes", {"attributes": {"color": 3}}),
    ("id", {"id": "has space"}),
    ("id", {"id": "a/b"}),
    ("id", {"id": "x" * 129}),
    ("id", {"id": ""}),
    ("in_stock", {"in_stock": "maybe"}),
    ("colour", {"colour": "red"}),
]


@pytest.mark.parametrize(("field", "change"), INVALID_FIELDS, ids=[f"{f}-{i}" for i, (f, _c) in enumerate(INVALID_FIELDS)])
def test_invalid_field_is_422(client, uid, field, change):
    response = client.post("/api/v1/products", json=product_body(f"{uid}-1", **change))

    assert response.status_code == 422
    body = response.get_json()
    assert field in body["errors"]["json"], body
    assert client.get(f"/api/v1/products/{uid}-1").status_code == 404


@pytest.mark.parametrize("field", ["name", "price", "currency", "id"])
def test_missing_required_field_is_422(client, uid, field):
    body = product_body(f"{uid}-1")
    del body[field]

    response = client.post("/api/v1/products", json=body)

    assert response.status_code == 422
    assert field in response.get_json()["errors"]["json"]


def test_unknown_category_is_422(client, uid):
    response = client.post("/api/v1/products", json=product_body(f"{uid}-1", category_id=f"{uid}-nope"))

    assert response.status_code == 422
    assert "category_id" in response.get_json()["errors"]["json"]


def test_body_not_json_is_400(client):
    response = client.post("/api/v1/products", data="{not json", content_type="application/json")

    assert response.status_code == 400
    assert response.get_json()["code"] == 400


def test_oversized_body_is_413(client, app, uid):
    limit = app.config["SETTINGS"].max_request_bytes
    body = json.dumps(product_body(f"{uid}-1", description="x" * (limit + 1)))

    response = client.post("/api/v1/products", data=body, content_type="application/json")

    assert response.status_code == 413
    assert response.get_json()["code"] == 413


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_stale_if_match_is_412(client, uid, method):
    old_version = _create(client, product_body(f"{uid}-1")).get_json()["version"]
    client.patch(f"/api/v1/products/{uid}-1", json={"price": 70})
    body = {"name": "New", "price": 1, "currency": "EUR"} if method != "delete" else None

    response = getattr(client, method)(f"/api/v1/products/{uid}-1", json=body, headers={"If-Match": f'"{old_version}"'})

    assert response.status_code == 412
    assert client.get(f"/api/v1/products/{uid}-1").get_json()["price"] == "70"


def test_current_if_match_succeeds(client, uid):
    created = _create(client, product_body(f"{uid}-1"))

    response = client.patch(f"/api/v1/products/{uid}-1", json={"price": 60}, headers={"If-Match": created.headers["ETag"]})

    assert response.status_code == 200
    assert response.get_json()["version"] > created.get_json()["version"]
    assert response.headers["ETag"] == f'"{response.get_json()["version"]}"'


def test_list_filters_and_pagination(client, uid):
    client.post("/api/v1/categories", json={"id": f"{uid}-root", "name": "Shoes"})
    client.post("/api/v1/categories", json={"id": f"{uid}-leaf", "name": "Trail", "parent_id": f"{uid}-root"})
    for number in range(5):
        _create(client, product_body(f"{uid}-{number}", brand=f"brand-{uid}", price=10 * (number + 1),
                                     category_id=f"{uid}-leaf" if number % 2 else f"{uid}-root"))
    client.patch(f"/api/v1/products/{uid}-4", json={"price": 1})

    page = client.get(f"/api/v1/products?brand=brand-{uid}&page=2&page_size=2")
    cheap = client.get(f"/api/v1/products?brand=brand-{uid}&max_price=25.5")
    middle = client.get(f"/api/v1/products?brand=brand-{uid}&min_price=10.5&max_price=30")
    in_root = client.get(f"/api/v1/products?category_id={uid}-root&page_size=100")
    in_leaf = client.get(f"/api/v1/products?category_id={uid}-leaf&page_size=100")

    assert page.status_code == 200
    assert [p["id"] for p in page.get_json()] == [f"{uid}-2", f"{uid}-3"]
    assert json.loads(page.headers["X-Pagination"])["total"] == 5
    assert [p["id"] for p in cheap.get_json()] == [f"{uid}-0", f"{uid}-1", f"{uid}-4"]
    assert [p["id"] for p in middle.get_json()] == [f"{uid}-1", f"{uid}-2"]
    assert len(in_root.get_json()) == 5
    assert [p["id"] for p in in_leaf.get_json()] == [f"{uid}-1", f"{uid}-3"]


def test_list_invalid_parameters_are_422(client):
    for query in ("min_price=abc", "page_size=1000", "in_stock=perhaps", "updated_since=yesterday", "colour=red"):
        response = client.get(f"/api/v1/products?{query}")
        assert response.status_code == 422, query


def test_bulk_reports_each_item(client, uid):
    _create(client, product_body(f"{uid}-0"))
    items = [
        product_body(f"{uid}-0", name="Updated"),
        product_body(f"{uid}-1"),
        product_body(f"{uid}-2", price=-5),
        product_body(f"{uid}-1", name="Duplicate"),
        "not an object",
    ]

    response = client.post("/api/v1/products/bulk", json={"products": items})

    assert response.status_code == 200
    body = response.get_json()
    assert (body["created"], body["updated"], body["rejected"]) == (1, 1, 3)
    assert [item["status"] for item in body["items"]] == [200, 201, 422, 422, 422]
    assert "price" in body["items"][2]["errors"]
    assert client.get(f"/api/v1/products/{uid}-0").get_json()["name"] == "Updated"
    assert client.get(f"/api/v1/products/{uid}-1").get_json()["name"] == "Trail Running Shoe"
    assert client.get(f"/api/v1/products/{uid}-2").status_code == 404


def test_bulk_over_limit_is_422(client, uid):
    items = [product_body(f"{uid}-{n}") for n in range(1001)]

    response = client.post("/api/v1/products/bulk", json={"products": items})

    assert response.status_code == 422
    assert "products" in response.get_json()["errors"]["json"]
    assert client.get(f"/api/v1/products/{uid}-0").status_code == 404


@pytest.mark.parametrize("page", ["500002", "281779518192368254976"])
def test_list_page_beyond_max_offset_is_422(client, page):
    response = client.get(f"/api/v1/products?page={page}&page_size=20")
    body = response.get_json()
    assert response.status_code == 422
    assert "the deepest page at page_size 20 is 500001" in body["errors"]["query"]["page"][0]


def test_list_deepest_page_is_served(client):
    response = client.get("/api/v1/products?page=500001&page_size=20")
    assert response.status_code == 200
    assert response.get_json() == []
