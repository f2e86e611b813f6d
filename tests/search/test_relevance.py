"""Search relevance on a real catalog: Best Buy products (with descriptions) and real shopper queries.

The catalog is loaded with the catalog import (webapp.catalog.importer), its
indexing run in this process, into a ClickHouse database and an index alias of
this module's own. The shares are printed; run with -s to see them.
"""

from __future__ import annotations

import csv
import json

import pytest

from storage.text_analysis import analyze
from tests.conftest import DATASETS

PRODUCTS = DATASETS / "bestbuy-products-typesense" / "products.jsonl"
QUERIES = DATASETS / "algolia-bestbuy-query-suggestions" / "queries.csv"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PRODUCTS.is_file() or not QUERIES.is_file(),
                       reason=f"the Best Buy datasets are not under {DATASETS}"),
]

# Every 11th product of the file: 300 products spread over all subcategories.
SAMPLE_STEP = 11


@pytest.fixture(scope="module")
def relevance_client(storage_ready):
    from storage import clients, migrations, search_index
    from storage.setup import init_storage
    from tasks.celery_app import app as celery_app
    from tasks.celery_app import configure_celery
    from webapp import create_app
    from webapp.catalog.importer import PRESETS, import_catalog

    settings = storage_ready.model_copy(update={
        "clickhouse_db": f"{storage_ready.clickhouse_db}_relevance",
        "elastic_index": f"{storage_ready.elastic_index}_relevance",
    })
    init_storage(settings)
    # The indexing tasks the import queues run here, against this module's database and alias.
    celery_app.conf.task_always_eager = True
    try:
        preset = PRESETS["bestbuy"]
        summary = import_catalog(PRODUCTS, "jsonl", preset["mapping"], defaults=preset["defaults"],
                                 category_depth=preset["category_depth"])
    finally:
        celery_app.conf.task_always_eager = False
    assert summary["created"] >= 3200, summary
    clients.elastic().indices.refresh(index=settings.elastic_index)

    app = create_app(settings)
    app.config["TESTING"] = True
    clients.configure(storage_ready)
    configure_celery(storage_ready)
    yield app.test_client()

    clients.configure(settings)
    search_index.drop_all(settings.elastic_index)
    migrations.drop_database(settings)
    clients.configure(storage_ready)


def _search(client, text: str, size: int = 10) -> dict:
    response = client.get("/api/v1/search", query_string={"q": text, "page_size": size})
    assert response.status_code == 200, (text, response.get_json())
    return response.get_json()


def _sample_products() -> list[dict]:
    with open(PRODUCTS, encoding="utf-8") as source:
        products = [json.loads(line) for line in source]
    return [product for product in products[::SAMPLE_STEP] if product["sku"]]


def test_product_name_finds_product_in_top_three(relevance_client):
    products = _sample_products()
    found = 0
    misses = []
    for product in products:
        top = _search(relevance_client, product["name"], size=3)["hits"]
        # Variants can share one name; any product of that name is the right answer.
        if any(hit["id"] == product["sku"] or hit["name"] == product["name"] for hit in top):
            found += 1
        else:
            misses.append(product["name"])

    share = found / len(products)
    print(f"\nname in top 3: {found} of {len(products)} ({share:.1%}); first misses: {misses[:5]}")
    assert len(products) >= 290
    assert share >= 0.95


def _typo_distance(length: int) -> int:
    # Elasticsearch's fuzziness AUTO: no edit up to 2 characters, 1 up to 5, then 2.
    if length <= 2:
        return 0
    if length <= 5:
        return 1
    return 2


def _edit_distance(left: str, right: str) -> int:
    previous = list(range(len(right) + 1))
    for i, left_char in enumerate(left, start=1):
        current = [i]
        for j, right_char in enumerate(right, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left_char != right_char)))
        previous = current
    return previous[-1]


def _term_matches(term: str, words: set[str]) -> bool:
    if term in words:
        return True
    allowed = _typo_distance(len(term))
    return any(
        word[:1] == term[:1] and abs(len(word) - len(term)) <= allowed and _edit_distance(term, word) <= allowed
        for word in words
    )


def _hit_matches(terms: list[str], hit: dict, description: str) -> bool:
    text = " ".join([hit["name"], hit.get("brand") or "", " ".join(hit.get("category_names") or []), description])
    words = set(analyze(text).split())
    matched = sum(_term_matches(term, words) for term in terms)
    # The search requires every word of up to three, and 75% of longer queries.
    needed = len(terms) if len(terms) <= 3 else -(-3 * len(terms) // 4)
    return matched >= needed


def test_shopper_queries_return_matching_text(relevance_client):
    with open(PRODUCTS, encoding="utf-8") as source:
        descriptions = {row["sku"]: row["description"] for row in map(json.loads, source) if row["sku"]}
    with open(QUERIES, encoding="utf-8", newline="") as source:
        queries = [row for row in csv.DictReader(source) if int(row["popularity"]) > 0]

    answered = matching = 0
    phone_queries = phone_answered = 0
    mismatches = []
    for row in queries:
        body = _search(relevance_client, row["query"], size=3)
        is_phone_query = row["top_category_lvl0"] == "Cell Phones"
        phone_queries += is_phone_query
        if not body["hits"]:
            continue
        answered += 1
        phone_answered += is_phone_query
        terms = analyze(row["query"]).split()
        if all(_hit_matches(terms, hit, descriptions.get(hit["id"], "")) for hit in body["hits"]):
            matching += 1
        else:
            mismatches.append(row["query"])

    share = matching / answered
    print(f"\nshopper queries: {len(queries)} with popularity > 0, {answered} with results; "
          f"top 3 all matching: {matching} ({share:.1%}); Cell Phones queries answered: "
          f"{phone_answered} of {phone_queries}; first mismatches: {mismatches[:5]}")
    assert answered >= 100
    assert share >= 0.95
    # The catalog holds only cell phones and their accessories.
    assert phone_answered / phone_queries >= 0.8
