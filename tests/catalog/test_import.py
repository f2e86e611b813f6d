"""Catalog import: the real public catalogs and small CSV and JSON Lines files."""

from __future__ import annotations

import json

import pytest

from storage import clients
from tests.conftest import DATASETS, wait_for
from webapp.catalog import importer

BESTBUY = DATASETS / "bestbuy-products-typesense" / "products.jsonl"
FLIPKART = DATASETS / "flipkart-products-promptcloud" / "products.jsonl"


def _indexed_count(ids: list[str]) -> int:
    es = clients.elastic(clients.TASK)
    alias = clients.settings().elastic_index
    es.indices.refresh(index=alias)
    return es.count(index=alias, query={"terms": {"id": ids}})["count"]


def _valid_ids(path, id_field: str) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [row[id_field] for row in map(json.loads, handle) if row.get(id_field)]


def _run_preset(path, name: str) -> dict:
    preset = importer.PRESETS[name]
    return importer.import_catalog(path, "jsonl", preset["mapping"], defaults=preset["defaults"],
                                   category_depth=preset["category_depth"])


@pytest.mark.slow
@pytest.mark.skipif(not BESTBUY.exists(), reason=f"dataset {BESTBUY} is not on this machine")
def test_bestbuy_import_is_searchable(app, client, celery_worker):
    ids = _valid_ids(BESTBUY, "sku")

    summary = _run_preset(BESTBUY, "bestbuy")

    assert summary["read"] == 3291
    assert summary["created"] + summary["updated"] == len(ids)
    assert summary["rejected"] == 3291 - len(ids)
    assert all("id" in row["errors"] for row in summary["rejected_rows"])
    wait_for(lambda: _indexed_count(ids) == len(ids), timeout=120, interval=1, message="every imported product indexed")
    roots = [c for c in client.get("/api/v1/categories").get_json() if c["name"] == "Cell Phones" and not c["parent_id"]]
    assert len(roots) == 1
    assert roots[0]["product_count"] == len(ids)
    hits = client.get("/api/v1/products/4984700").get_json()
    assert hits["currency"] == "USD"
    assert hits["price"] == "49.99"
    assert hits["image_url"].endswith("4984700_sb.jpg")


@pytest.mark.slow
@pytest.mark.skipif(not FLIPKART.exists(), reason=f"dataset {FLIPKART} is not on this machine")
def test_flipkart_import_is_searchable(app, client, celery_worker):
    ids = _valid_ids(FLIPKART, "id")

    summary = _run_preset(FLIPKART, "flipkart")

    assert summary["read"] == 20_000
    assert summary["created"] + summary["updated"] + summary["rejected"] == 20_000
    assert summary["rejected"] < 100, summary["rejected_rows"][:5]
    accepted = sorted(set(ids) - {row["id"] for row in summary["rejected_rows"]})
    wait_for(lambda: _indexed_count(accepted) >= summary["created"] + summary["updated"], timeout=240, interval=2,
             message="every imported product indexed")
    sample = client.get("/api/v1/products/c2d766ca982eca8304150849735ffef9").get_json()
    assert sample["price"] == "379"
    assert sample["currency"] == "INR"
    assert sample["attributes"]["pid"] == "SRTEH2FF9KEDEFGF"
    path = client.get(f"/api/v1/categories/{sample['category_id']}").get_json()["path"]
    assert len(path) == 3


def test_csv_import_with_mapping_through_cli(app, client, tmp_path, uid):
    source = tmp_path / "catalog.csv"
    source.write_text(
        "sku,title,cost,stock,cat\n"
        f"{uid}-1,Red kettle,25.50,4,Kitchen > Kettles\n"
        f"{uid}-2,,12,1,Kitchen > Kettles\n"
        f"{uid}-3,Blue kettle,cheap,1,Kitchen\n"
        f"{uid}-4,Green pan,30,0,Kitchen > Pans\n",
        encoding="utf-8",
    )

    result = app.test_cli_runner().invoke(args=[
        "catalog", "import", str(source), "--format", "csv",
        "--mapping", "id=sku,name=title,price=cost,stock_quantity=stock,category_path=cat", "--default", "currency=GBP",
    ])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert (summary["read"], summary["created"], summary["rejected"]) == (4, 2, 2)
    assert [(row["line"], sorted(row["errors"])) for row in summary["rejected_rows"]] == [(3, ["name"]), (4, ["price"])]
    kettle = client.get(f"/api/v1/products/{uid}-1").get_json()
    assert (kettle["price"], kettle["stock_quantity"], kettle["currency"]) == ("25.5", 4, "GBP")
    kettles = client.get(f"/api/v1/categories/{kettle['category_id']}").get_json()
    assert kettles["name"] == "Kettles"
    assert kettles["path"][0] == importer.category_id_for(["Kitchen"])


def test_jsonl_import_reports_bad_lines(app, client, tmp_path, uid):
    source = tmp_path / "catalog.jsonl"
    good = {"id": f"{uid}-1", "name": "Mug", "price": 3, "currency": "EUR"}
    source.write_text(f"{json.dumps(good)}\n{{broken\n[1, 2]\n", encoding="utf-8")

    summary = importer.import_catalog(source, "jsonl")

    assert (summary["read"], summary["created"], summary["rejected"]) == (3, 1, 2)
    assert [row["line"] for row in summary["rejected_rows"]] == [2, 3]
    assert client.get(f"/api/v1/products/{uid}-1").status_code == 200


def test_import_again_updates_and_reuses_categories(app, client, tmp_path, uid):
    source = tmp_path / "catalog.jsonl"
    row = {"id": f"{uid}-1", "name": "Mug", "price": 3, "currency": "EUR", "category_path": [f"Home {uid}", "Mugs"]}
    source.write_text(json.dumps(row) + "\n", encoding="utf-8")

    first = importer.import_catalog(source, "jsonl")
    second = importer.import_catalog(source, "jsonl")

    assert (first["created"], first["categories_created"]) == (1, 2)
    assert (second["updated"], second["categories_created"]) == (1, 0)


def test_invalid_mapping_is_usage_error(app, tmp_path):
    source = tmp_path / "catalog.jsonl"
    source.write_text("{}\n", encoding="utf-8")

    result = app.test_cli_runner().invoke(args=["catalog", "import", str(source), "--mapping", "colour=col"])

    assert result.exit_code == 2
    assert "unknown product field 'colour'" in result.output
