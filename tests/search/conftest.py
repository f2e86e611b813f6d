"""Fixtures of the search tests: an index alias of their own with a small known catalog."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from storage.search_index import build_document
from tests.conftest import ROOT, SERVICES

# The category tree: id -> (name, parent id).
CATEGORIES = {
    "home": ("Home", None),
    "kitchen": ("Kitchen", "home"),
    "sport": ("Sport", None),
    "shoes": ("Shoes", "sport"),
    "trail": ("Trail Shoes", "shoes"),
    "phones": ("Phones", None),
}

# id, name, brand, category, price, in stock, rating, reviews, created, popularity, description
PRODUCTS = [
    ("p01", "Crème Brûlée Torch", "Bonjour", "kitchen", 29.99, True, 4.6, 120, "2025-01-10", 40.0,
     "A butane kitchen torch that caramelizes sugar on desserts."),
    ("p02", "Cast Iron Skillet", "Lodge", "kitchen", 39.50, True, 4.8, 900, "2024-03-01", 90.0,
     "A pre-seasoned pan for searing, baking and frying."),
    ("p03", "Chef Knife 8 inch", "Victorinox", "kitchen", 54.00, False, 4.7, 410, "2025-06-20", 70.0,
     "A stainless steel knife with a non-slip handle."),
    ("p04", "Running Shoes", "Nike", "shoes", 89.00, True, 4.2, 300, "2025-09-01", 95.0,
     "Light shoes with a cushioned sole for road running."),
    ("p05", "Trail Running Shoe GTX", "Salomon", "trail", 149.00, True, 4.5, 150, "2025-11-15", 60.0,
     "A waterproof shoe with a grippy sole for muddy trails."),
    ("p06", "Walking Sandals", "Teva", "shoes", 45.00, False, 3.9, 80, "2023-05-05", 10.0,
     "Open sandals with adjustable straps."),
    ("p07", "Yoga Mat", "Manduka", "sport", 120.00, True, None, 0, "2024-08-08", 20.0,
     "A dense mat for yoga and pilates."),
    ("p08", "Galaxy S24 Smartphone", "Samsung", "phones", 799.00, True, 4.4, 1500, "2025-02-02", 99.0,
     "An Android phone with a bright display and three cameras."),
    ("p09", "iPhone 15 Case", "Apple", "phones", 49.00, True, 4.1, 640, "2025-03-03", 85.0,
     "A silicone case that protects the phone from drops."),
    ("p10", "Nike Running Socks", "Nike", "sport", 12.00, True, 4.0, 55, "2025-10-10", 30.0,
     "Breathable socks for running."),
    ("p11", "東京タワー Model Kit", "Tamiya", "home", 24.00, True, 4.9, 12, "2022-12-12", 5.0,
     "A plastic model of the Tokyo Tower."),
    ("p12", "Espresso Machine", "De'Longhi", "kitchen", 1299.00, True, 4.3, 220, "2025-12-01", 50.0,
     "Makes espresso & cappuccino; 15 bar pump, stainless steel."),
]


def category_path(category_id: str) -> list[dict[str, str]]:
    path = []
    current = category_id
    while current is not None:
        name, parent = CATEGORIES[current]
        path.insert(0, {"id": current, "name": name})
        current = parent
    return path


def product_documents() -> list[dict]:
    documents = []
    for (pid, name, brand, category, price, in_stock, rating, reviews, created, popularity,
         description) in PRODUCTS:
        product = {
            "id": pid, "name": name, "brand": brand, "category_id": category, "price": price,
            "currency": "USD", "in_stock": in_stock, "rating": rating, "review_count": reviews,
            "created_at": f"{created}T10:00:00+00:00", "popularity": popularity,
            "description": description, "version": 1,
        }
        documents.append(build_document(product, category_path(category)))
    return documents


@pytest.fixture(scope="session")
def search_settings(storage_ready):
    """The session's settings with an index alias that only the search tests write to."""
    return storage_ready.model_copy(update={"elastic_index": f"{storage_ready.elastic_index}_search"})


@pytest.fixture(scope="session")
def catalog_alias(search_settings, storage_ready):
    from storage import clients, search, search_index

    alias = search_settings.elastic_index
    search_index.ensure_index(alias)
    search.load_documents(alias, product_documents())
    yield alias
    clients.configure(storage_ready)
    search_index.drop_all(alias)


@pytest.fixture(scope="session")
def search_app(search_settings, catalog_alias, storage_ready):
    """An app that searches the known catalog (same services as the session's app)."""
    from storage import clients
    from tasks.celery_app import configure_celery
    from webapp import create_app

    app = create_app(search_settings)
    app.config["TESTING"] = True
    # create_app configured the process's clients with the search alias; the
    # rest of the session expects the session's own settings back.
    clients.configure(storage_ready)
    configure_celery(storage_ready)
    return app


@pytest.fixture()
def search_client(search_app):
    return search_app.test_client()


class PrivateService:
    """A private Elasticsearch or Redis started with scripts/services.sh on this area's own ports."""

    PORTS = {"LOCAL_ES_PORT": "9231", "LOCAL_CLICKHOUSE_PORT": "9032", "LOCAL_CLICKHOUSE_HTTP_PORT": "8154",
             "LOCAL_REDIS_PORT": "6392"}

    def __init__(self, name: str, state_name: str):
        self.name = name
        self.state_dir = ROOT / ".local" / "private" / state_name
        self.env = {**os.environ, **self.PORTS, "LOCAL_STATE_DIR": str(self.state_dir), "ES_HEAP": "256m"}

    def start(self) -> None:
        subprocess.run([str(SERVICES), "start", self.name], check=True, cwd=ROOT, env=self.env)

    def stop(self) -> None:
        subprocess.run([str(SERVICES), "stop", self.name], check=True, cwd=ROOT, env=self.env)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.state_dir, ignore_errors=True)


@pytest.fixture()
def restore_clients(storage_ready):
    """Point this process's clients and Celery back at the session's services after a test."""
    yield
    from storage import clients
    from tasks.celery_app import configure_celery

    clients.configure(storage_ready)
    configure_celery(storage_ready)
