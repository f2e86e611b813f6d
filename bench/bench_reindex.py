"""Benchmark the full reindex and the catalog import against bare-client baselines.

Reindex: documents per second of `storage.indexing.reindex` (read ClickHouse,
build documents, streaming_bulk, alias swap, catch-up) against a plain
`helpers.bulk` of the same, already built documents into an index with the
same mapping and settings, in the same run.

Import: rows per second of `import_catalog` on the largest real catalog
(validation, category tree, ClickHouse insert, queued indexing) against raw
clickhouse-driver inserts of the same rows in batches of 1,000.

Run: .venv/bin/python bench/bench_reindex.py [--runs 3]
It uses a ClickHouse database and an index alias of its own on the local
services, and a private Redis on port 6391 for the tasks the imports queue, and
removes all three at the end.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from elasticsearch import helpers  # noqa: E402

from config import load_settings  # noqa: E402
from storage import catalog, clients, indexing, migrations, search_index  # noqa: E402
from storage.setup import init_storage  # noqa: E402
from tasks.celery_app import configure_celery  # noqa: E402
from webapp.catalog import importer  # noqa: E402

DATASETS = ROOT.parent / "shared" / "datasets"
FLIPKART = DATASETS / "flipkart-products-promptcloud" / "products.jsonl"
BESTBUY = DATASETS / "bestbuy-products-typesense" / "products.jsonl"
SERVICES = ROOT / "scripts" / "services.sh"
# A Redis of its own: the imports queue thousands of indexing tasks that no
# worker runs, and clearing a shared Redis database could hit a test session's.
REDIS_PORT = 6391


def _import(path: Path, preset: str) -> dict:
    options = importer.PRESETS[preset]
    return importer.import_catalog(path, "jsonl", options["mapping"], defaults=options["defaults"],
                                   category_depth=options["category_depth"])


def bench_import(runs: int) -> dict:
    """Time the import of the Flipkart catalog and raw inserts of the rows it wrote."""
    service_rates = []
    for _ in range(runs):
        summary = _import(FLIPKART, "flipkart")
        service_rates.append(summary["read"] / summary["seconds"])

    rows = list(catalog.iter_product_rows(tag="bench.import"))
    raw_rates = []
    for _ in range(runs):
        started = time.perf_counter()
        for start in range(0, len(rows), 1000):
            catalog.insert_products(rows[start:start + 1000], tag="bench.import_raw", profile=clients.TASK)
        raw_rates.append(len(rows) / (time.perf_counter() - started))
    return {"rows": summary["read"], "service": statistics.median(service_rates), "raw": statistics.median(raw_rates)}


def _plain_bulk(alias: str, documents: list[dict]) -> float:
    """Load pre-built documents with helpers.bulk into a fresh index like the reindex builds; return seconds."""
    es = clients.elastic(clients.TASK)
    name = f"{alias}-baseline"
    body = search_index.index_body(1, 0)
    body["settings"]["index"] = {**body["settings"]["index"], "refresh_interval": "-1"}
    es.options(ignore_status=404).indices.delete(index=name)
    es.indices.create(index=name, **body)
    actions = ({"_index": name, "_id": doc["id"], "version": doc["version"], "version_type": "external", "_source": doc}
               for doc in documents)
    started = time.perf_counter()
    helpers.bulk(es, actions, chunk_size=indexing.REINDEX_CHUNK_SIZE)
    es.indices.put_settings(index=name, settings={"index": {"refresh_interval": "1s"}})
    es.indices.refresh(index=name)
    seconds = time.perf_counter() - started
    es.indices.delete(index=name)
    return seconds


def bench_reindex(runs: int, alias: str) -> dict:
    categories = catalog.load_categories(tag="bench.reindex", profile=clients.TASK)
    documents = [
        search_index.build_document(row, catalog.category_path(categories, row["category_id"]))
        for row in catalog.iter_product_rows(tag="bench.reindex")
    ]
    service_rates, plain_rates = [], []
    for _ in range(runs):
        plain_rates.append(len(documents) / _plain_bulk(alias, documents))
        started = time.perf_counter()
        summary = indexing.reindex()
        service_rates.append(summary["indexed"] / (time.perf_counter() - started))
        logging.getLogger("bench").warning(
            "run plain=%.0f docs/s service=%.0f docs/s caught_up=%d stale=%d",
            plain_rates[-1], service_rates[-1], summary["caught_up"], summary["stale"],
        )
    return {"documents": len(documents), "service": statistics.median(service_rates),
            "plain": statistics.median(plain_rates)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="repetitions of each measurement (the median is reported)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    token = secrets.token_hex(4)
    state_dir = ROOT / ".local" / "private" / f"bench-reindex-{token}"
    redis_env = {**os.environ, "LOCAL_STATE_DIR": str(state_dir), "LOCAL_REDIS_PORT": str(REDIS_PORT)}
    subprocess.run([str(SERVICES), "start", "redis"], check=True, cwd=ROOT, env=redis_env)
    settings = load_settings(clickhouse_db=f"bench_{token}", elastic_index=f"bench_{token}_products",
                             redis_url=f"redis://127.0.0.1:{REDIS_PORT}/0")
    try:
        init_storage(settings)
        configure_celery(settings)
        imported = bench_import(args.runs)
        _import(BESTBUY, "bestbuy")
        reindexed = bench_reindex(args.runs, settings.elastic_index)
    finally:
        search_index.drop_all(settings.elastic_index)
        migrations.drop_database(settings)
        subprocess.run([str(SERVICES), "stop", "redis"], cwd=ROOT, env=redis_env)
        shutil.rmtree(state_dir, ignore_errors=True)

    print(f"import (Flipkart, {imported['rows']} rows, median of {args.runs}): "
          f"service {imported['service']:.0f} rows/s, raw insert {imported['raw']:.0f} rows/s, "
          f"ratio {imported['service'] / imported['raw']:.2f}")
    print(f"reindex ({reindexed['documents']} documents, median of {args.runs}): "
          f"service {reindexed['service']:.0f} docs/s, plain helpers.bulk {reindexed['plain']:.0f} docs/s, "
          f"ratio {reindexed['service'] / reindexed['plain']:.2f}")


if __name__ == "__main__":
    main()
