"""GET /api/v1/search/suggest: product-name completions and popular past queries."""

from __future__ import annotations

import time
import uuid

from storage import clients, query_suggestions
from tests.conftest import wait_for


def _suggest(client, prefix: str, **params) -> dict:
    response = client.get("/api/v1/search/suggest", query_string={"q": prefix, **params})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def _names(body) -> list[str]:
    return [product["name"] for product in body["products"]]


def test_prefix_completes_product_name(search_client):
    assert _names(_suggest(search_client, "cast")) == ["Cast Iron Skillet"]


def test_accented_name_completes_from_plain_prefix(search_client):
    assert _names(_suggest(search_client, "creme b")) == ["Crème Brûlée Torch"]


def test_later_word_completes_name(search_client):
    assert "Galaxy S24 Smartphone" in _names(_suggest(search_client, "galax"))


def test_small_typo_still_completes(search_client):
    assert "Espresso Machine" in _names(_suggest(search_client, "expres"))


def test_size_limits_suggestions(search_client):
    body = _suggest(search_client, "r", size=1)
    assert len(body["products"]) == 1


def test_empty_prefix_is_422(search_client):
    response = search_client.get("/api/v1/search/suggest")
    assert response.status_code == 422
    assert "q" in response.get_json()["errors"]["query"]


def test_blank_prefix_suggests_nothing(search_client):
    body = _suggest(search_client, "   ")
    assert body["products"] == []
    assert body["queries"] == []


def test_suggest_is_fast(search_client):
    _suggest(search_client, "sk")
    started = time.perf_counter()
    for prefix in ("s", "sk", "ski", "skil", "skill"):
        _suggest(search_client, prefix)
    per_call_ms = (time.perf_counter() - started) * 1000 / 5
    # A few milliseconds on the shared test machine; generous so load from other sessions does not fail it.
    assert per_call_ms < 50


def test_popular_queries_appear_after_refresh(celery_worker, search_client):
    token = uuid.uuid4().hex[:8]
    # Four words, three of which match, so the search has results (75% of the words are required).
    query = f"Cast Iron Skillet zq{token}"
    query_ids = [search_client.get("/api/v1/search", query_string={"q": query}).get_json()["query_id"]
                 for _ in range(2)]
    once = f"Cast Iron Skillet zp{token}"
    query_ids.append(search_client.get("/api/v1/search", query_string={"q": once}).get_json()["query_id"])

    def stored() -> bool:
        rows = clients.clickhouse().execute(
            "SELECT count() FROM search_events WHERE query_id IN %(ids)s", {"ids": tuple(query_ids)},
            tag="tests.suggest",
        )
        return rows[0][0] == 3
    wait_for(stored, timeout=30, message="the three search events in ClickHouse")

    # The first keystroke after the refresh period starts a refresh task in the worker.
    clients.redis_client().delete(query_suggestions.REFRESH_MARKER_KEY)
    _suggest(search_client, "cast iron")

    expected = {"query": f"cast iron skillet zq{token}", "count": 2}
    body = wait_for(lambda: expected in _suggest(search_client, "cast iron skillet z")["queries"] and
                    _suggest(search_client, "cast iron skillet z"), timeout=30,
                    message="the popular query in suggest")
    # A query searched once is not suggested.
    assert all(entry["query"] != f"cast iron skillet zp{token}" for entry in body["queries"])


def test_popular_queries_rank_by_count(storage_ready):
    clients.configure(storage_ready)
    query_suggestions.replace_popular_queries([("iphone case", 9), ("iphone", 30), ("ipad", 4), ("phone", 50),
                                               ("iphone 15 pro", 120)])
    assert query_suggestions.popular_queries("iphone 1", 5)[0] == [{"query": "iphone 15 pro", "count": 120}]
    query_suggestions.replace_popular_queries([("iphone case", 9), ("iphone", 30), ("ipad", 4), ("phone", 50)])
    found, _ = query_suggestions.popular_queries("  IPh", 5)
    assert found == [{"query": "iphone", "count": 30}, {"query": "iphone case", "count": 9}]
    assert query_suggestions.popular_queries("ip", 1)[0] == [{"query": "iphone", "count": 30}]
    assert query_suggestions.popular_queries("x", 5)[0] == []


def test_refresh_is_claimed_once_per_period(storage_ready):
    clients.configure(storage_ready)
    clients.redis_client().delete(query_suggestions.REFRESH_MARKER_KEY)
    assert query_suggestions.popular_queries("ip", 5, claim_refresh=True)[1] is True
    assert query_suggestions.popular_queries("ip", 5, claim_refresh=True)[1] is False
    assert 0 < clients.redis_client().ttl(query_suggestions.REFRESH_MARKER_KEY) <= query_suggestions.REFRESH_PERIOD_SECONDS
