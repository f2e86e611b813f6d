"""Fixtures of the catalog tests: unique ids, product bodies, and reads of the search index."""

from __future__ import annotations

import uuid

import pytest

from storage import clients


@pytest.fixture()
def uid() -> str:
    """A prefix that keeps one test's products and categories apart from the others'."""
    return uuid.uuid4().hex[:10]


def product_body(product_id: str, **overrides) -> dict:
    body = {
        "id": product_id,
        "name": "Trail Running Shoe",
        "description": "Light shoe with a grippy sole",
        "brand": "Acme",
        "price": "89.90",
        "currency": "EUR",
        "in_stock": True,
        "stock_quantity": 12,
        "rating": 4.5,
        "review_count": 31,
        "image_url": "https://img.example.com/shoe.jpg",
        "attributes": {"color": "blue", "size": "42"},
    }
    body.update(overrides)
    return body


def search_document(product_id: str) -> dict | None:
    """Return the indexed document of a product with its version, or None when absent."""
    es = clients.elastic(clients.TASK)
    alias = clients.settings().elastic_index
    result = es.options(ignore_status=404).get(index=alias, id=product_id)
    if not result.get("found"):
        return None
    return {**result["_source"], "_version": result["_version"]}
