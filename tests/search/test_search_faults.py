"""Search with a dependency down: private Elasticsearch and Redis instances are really stopped."""

from __future__ import annotations

import pytest

from storage import clients, search, search_index
from tests.search.conftest import PrivateService, product_documents
from webapp.search.events import sender


@pytest.fixture()
def private_redis(restore_clients):
    service = PrivateService("redis", "search-redis")
    service.start()
    yield service
    service.remove()


@pytest.fixture()
def private_elasticsearch(restore_clients):
    service = PrivateService("elasticsearch", "search-elasticsearch")
    service.start()
    yield service
    service.remove()


def _app(settings):
    from webapp import create_app

    app = create_app(settings)
    app.config["TESTING"] = True
    return app.test_client()


@pytest.mark.fault
def test_search_counts_lost_events_redis_down(private_redis, search_settings, catalog_alias):
    client = _app(search_settings.model_copy(update={"redis_url": "redis://127.0.0.1:6392/0"}))
    stats = client.get("/api/v1/search/stats").get_json()
    assert stats["lost_events_recorded"] == 0
    lost_before = stats["lost_events_process"]

    assert client.get("/api/v1/search?q=torch").status_code == 200
    assert sender.flush()
    assert clients.redis_client().llen("events:buffer:search") == 1

    private_redis.stop()
    response = client.get("/api/v1/search?q=torch")
    body = response.get_json()
    assert response.status_code == 200, body
    assert [hit["id"] for hit in body["hits"]] == ["p01"]
    assert sender.flush()
    stats = client.get("/api/v1/search/stats").get_json()
    assert stats["lost_events_process"] == lost_before + 1
    assert stats["lost_events_recorded"] is None

    # Once Redis responds again, the next search adds the loss to the shared counter.
    private_redis.start()
    assert client.get("/api/v1/search?q=skillet").status_code == 200
    assert sender.flush()
    stats = client.get("/api/v1/search/stats").get_json()
    assert stats["lost_events_recorded"] == 1
    assert stats["lost_events_process"] == lost_before + 1
    assert clients.redis_client().llen("events:buffer:search") == 2


@pytest.mark.fault
def test_suggest_returns_names_when_redis_is_down(private_redis, search_settings, catalog_alias):
    client = _app(search_settings.model_copy(update={"redis_url": "redis://127.0.0.1:6392/0"}))
    private_redis.stop()
    response = client.get("/api/v1/search/suggest?q=crem")
    body = response.get_json()
    assert response.status_code == 200, body
    assert [product["id"] for product in body["products"]] == ["p01"]
    assert body["queries"] == []


@pytest.mark.fault
def test_search_is_503_when_elasticsearch_is_down(private_elasticsearch, search_settings):
    settings = search_settings.model_copy(update={"elastic_host": "http://127.0.0.1:9231"})
    client = _app(settings)
    search_index.ensure_index(settings.elastic_index)
    search.load_documents(settings.elastic_index, product_documents())
    assert client.get("/api/v1/search?q=torch").get_json()["total"] == 1

    private_elasticsearch.stop()
    for path in ("/api/v1/search?q=torch", "/api/v1/search", "/api/v1/search/suggest?q=tor"):
        response = client.get(path)
        body = response.get_json()
        assert response.status_code == 503, (path, body)
        assert body["errors"] == {"dependency": "elasticsearch"}
        assert body["message"] == "elasticsearch is unavailable; retry in a few seconds"
        assert response.headers["Retry-After"] == "5"
