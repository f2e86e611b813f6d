"""Faults injected into the real services while traffic flows.

For each fault, the API keeps serving what it can (clear JSON errors for the
rest) and, after recovery, the events stored equal the events accepted with no
duplicates, and the search index matches the catalog.
"""

from __future__ import annotations

import random
import time

import pytest

from tests.conftest import wait_for
from tests.faults.conftest import Traffic, record_figures

pytestmark = [pytest.mark.fault, pytest.mark.slow]

PRODUCT_COUNT = 30
# Every event_id accepted with 202 by any test of this module.
ACCEPTED: set[str] = set()


@pytest.fixture(scope="module")
def product_ids(stack):
    ids = [f"fault-product-{n}" for n in range(PRODUCT_COUNT)]
    for number, product_id in enumerate(ids):
        response = stack.post("/api/v1/products", json=_product(product_id, number))
        assert response.status_code in (200, 201, 202), response.text
    wait_for(lambda: _index_matches_catalog(stack, ids), timeout=60, message="the products to be indexed")
    return ids


def _product(product_id: str, number: int) -> dict:
    return {
        "id": product_id,
        "name": f"Fault test phone {number}",
        "description": "A phone used by the fault-injection tests",
        "brand": "Faultco",
        "price": f"{100 + number}.99",
        "currency": "USD",
        "in_stock": True,
        "stock_quantity": 10,
    }


def _stored(stack) -> tuple[int, int]:
    """Return (rows, distinct event_ids) of the interaction events table."""
    (rows, distinct), = stack.clickhouse_rows("SELECT count(), uniqExact(event_id) FROM events")
    return rows, distinct


def _stored_ids(stack) -> set[str]:
    return {event_id for (event_id,) in stack.clickhouse_rows("SELECT event_id FROM events")}


def _wait_all_stored(stack, timeout: float = 180) -> dict:
    started = time.monotonic()
    wait_for(lambda: _stored(stack)[1] >= len(ACCEPTED) and ACCEPTED <= _stored_ids(stack),
             timeout=timeout, interval=1, message=f"all {len(ACCEPTED)} accepted events to be stored")
    # A last flush may still be running; give it a moment, then count.
    time.sleep(2)
    rows, distinct = _stored(stack)
    return {"accepted": len(ACCEPTED), "stored": rows, "distinct_stored": distinct,
            "duplicates": rows - distinct, "recovery_s": round(time.monotonic() - started, 1)}


def _index_matches_catalog(stack, ids: list[str]) -> bool:
    from storage import clients

    clients.configure(stack.settings)
    es = clients.elastic(clients.TASK)
    es.indices.refresh(index=stack.settings.elastic_index)
    documents = {hit["_id"]: hit["_source"]["version"] for hit in es.search(
        index=stack.settings.elastic_index, size=1000, query={"match_all": {}}, source=["version"])["hits"]["hits"]}
    catalog = {}
    for product_id in ids:
        response = stack.get(f"/api/v1/products/{product_id}")
        if response.status_code != 200:
            return False
        catalog[product_id] = response.json()["version"]
    return documents == catalog


def _traffic_for(stack, product_ids, seconds: float) -> Traffic:
    traffic = Traffic(stack).start(product_ids)
    time.sleep(seconds)
    return traffic


def _finish(traffic: Traffic) -> None:
    traffic.stop()
    ACCEPTED.update(traffic.accepted)


def test_worker_killed_mid_batch(stack, product_ids):
    traffic = _traffic_for(stack, product_ids, 3)
    kills = 0
    rng = random.Random(7)
    for _ in range(3):
        # Kill while batches are being claimed and inserted, then bring a worker back.
        time.sleep(rng.uniform(0.3, 1.5))
        stack.kill_worker()
        kills += 1
        time.sleep(1)
        stack.start_worker()
    time.sleep(3)
    _finish(traffic)

    figures = _wait_all_stored(stack)
    figures.update(kills=kills, event_answers=dict(traffic.answers), search_answers=dict(traffic.searches))
    record_figures("worker_sigkill", figures)
    assert figures["duplicates"] == 0
    assert figures["distinct_stored"] == figures["accepted"]
    assert traffic.answers[202] > 0
    assert set(traffic.answers) <= {202}


def test_clickhouse_stopped_30s(stack, product_ids):
    traffic = _traffic_for(stack, product_ids, 2)
    stack.services("stop", "clickhouse")
    accepted_before = len(traffic.accepted)
    time.sleep(30)
    accepted_during = len(traffic.accepted) - accepted_before
    ready = stack.get("/ready")
    stack.services("start", "clickhouse")
    time.sleep(3)
    _finish(traffic)

    figures = _wait_all_stored(stack)
    figures.update(accepted_while_down=accepted_during, event_answers=dict(traffic.answers),
                   search_answers=dict(traffic.searches), ready_while_down=ready.status_code)
    record_figures("clickhouse_stopped_30s", figures)
    # Events wait in Redis while ClickHouse is down, so ingestion keeps accepting.
    assert accepted_during > 0
    assert set(traffic.answers) <= {202}
    # Searches need only Elasticsearch.
    assert traffic.searches[200] > 0
    assert ready.status_code == 503
    assert ready.json()["dependencies"]["clickhouse"]["status"] == "down"
    assert figures["duplicates"] == 0
    assert figures["distinct_stored"] == figures["accepted"]


def test_elasticsearch_stopped(stack, product_ids):
    traffic = _traffic_for(stack, product_ids, 2)
    stack.services("stop", "elasticsearch")
    down_search = stack.get("/api/v1/search", params={"q": "phone"})
    updated = []
    for number, product_id in enumerate(product_ids[:10]):
        response = stack.patch(f"/api/v1/products/{product_id}", json={"price": f"{500 + number}.50"})
        updated.append(response.status_code)
    time.sleep(3)
    stack.services("start", "elasticsearch")
    _finish(traffic)

    started = time.monotonic()
    wait_for(lambda: _index_matches_catalog(stack, product_ids), timeout=180, interval=2,
             message="the index to match the catalog")
    figures = _wait_all_stored(stack)
    figures.update(search_while_down=down_search.status_code, writes_while_down=updated,
                   index_recovery_s=round(time.monotonic() - started, 1),
                   event_answers=dict(traffic.answers), search_answers=dict(traffic.searches))
    record_figures("elasticsearch_stopped", figures)
    assert down_search.status_code == 503
    assert down_search.json()["code"] == 503
    assert down_search.json()["errors"]["dependency"] == "elasticsearch"
    assert traffic.searches["503:elasticsearch"] > 0
    assert all(code == 200 for code in updated), updated
    assert figures["duplicates"] == 0
    assert figures["distinct_stored"] == figures["accepted"]


def test_redis_restarted(stack, product_ids):
    traffic = _traffic_for(stack, product_ids, 3)
    stack.services("restart", "redis")
    time.sleep(5)
    _finish(traffic)

    figures = _wait_all_stored(stack)
    figures.update(event_answers=dict(traffic.answers), search_answers=dict(traffic.searches))
    record_figures("redis_restarted", figures)
    # While Redis is down, events get 503 (not accepted) and searches still succeed.
    assert set(traffic.answers) <= {202, 503}
    assert "503:redis" not in traffic.searches
    assert 500 not in traffic.searches
    assert figures["duplicates"] == 0
    assert figures["distinct_stored"] == figures["accepted"]

