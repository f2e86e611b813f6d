"""Full reindex: a new index behind the alias, nothing lost or stale under concurrent writes and searches."""

from __future__ import annotations

import json
import threading
import time

import pytest

from storage import api_keys, catalog, clients, indexing, search_index
from tests.catalog.conftest import product_body, search_document
from tests.conftest import wait_for

SEEDED = 3000


def _own_client(app):
    # A key of its own keeps these threads inside their own rate limits.
    _key, token = api_keys.create_key("reindex-test", list(api_keys.SCOPES))
    own = app.test_client()
    own.environ_base["HTTP_X_API_KEY"] = token
    return own


def _follow_task(client, task_id: str, timeout: float = 180) -> tuple[dict, list[dict]]:
    """Poll GET /tasks/{id} until the task ends; return the last body and every body seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/tasks/{task_id}").get_json()
        seen.append(body)
        if body["state"] in ("SUCCESS", "FAILURE"):
            return body, seen
        time.sleep(0.05)
    states = sorted({body["state"] for body in seen})
    raise AssertionError(f"reindex task {task_id} not finished after {timeout}s; states seen: {states}")


def _assert_index_matches_catalog(uid: str) -> None:
    """Every live product of this test is indexed at its stored version, and no deleted one is."""
    rows = catalog.get_product_rows(_ids_written(uid), tag="test", profile=clients.TASK)

    def mismatches():
        wrong = []
        for product_id, row in rows.items():
            document = search_document(product_id)
            if row["deleted"] and document is not None:
                wrong.append((product_id, "deleted but indexed"))
            elif not row["deleted"] and (document is None or document["_version"] != row["version"]):
                wrong.append((product_id, "missing or stale"))
        return wrong

    def settled():
        return not mismatches()

    try:
        wait_for(settled, timeout=90, interval=1, message="the index to match the catalog")
    except AssertionError:
        raise AssertionError(f"index differs from the catalog: {mismatches()[:10]}") from None


_written: dict[str, set[str]] = {}


def _ids_written(uid: str) -> list[str]:
    return sorted(_written.get(uid, set()))


@pytest.mark.slow
def test_reindex_under_writes_and_searches(app, client, celery_worker, uid):
    alias = clients.settings().elastic_index
    seeds = [product_body(f"{uid}-s{n}", name=f"Seed shoe {n}", brand=f"b{uid}") for n in range(SEEDED)]
    for start in range(0, SEEDED, 1000):
        response = client.post("/api/v1/products/bulk", json={"products": seeds[start:start + 1000]})
        assert response.get_json()["created"] == 1000
    _written[uid] = {seed["id"] for seed in seeds}
    old_indices = search_index.current_indices(alias)

    stop = threading.Event()
    search_failures: list[int] = []
    write_failures: list[int] = []
    searches = [0]

    def search_loop():
        own = _own_client(app)
        while not stop.is_set():
            response = own.get(f"/api/v1/search?q=shoe&brand=b{uid}")
            searches[0] += 1
            if response.status_code != 200:
                search_failures.append(response.status_code)
            time.sleep(0.05)

    def write_loop():
        own = _own_client(app)
        number = 0
        while not stop.is_set():
            new_id = f"{uid}-w{number}"
            _written[uid].add(new_id)
            steps = [
                own.post("/api/v1/products", json=product_body(new_id, brand=f"b{uid}")),
                own.patch(f"/api/v1/products/{uid}-s{number}", json={"price": f"{number}.5"}),
            ]
            if number % 3 == 0:
                steps.append(own.delete(f"/api/v1/products/{uid}-s{number + 1500}"))
            write_failures.extend(r.status_code for r in steps if r.status_code >= 300)
            number += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=search_loop), threading.Thread(target=write_loop)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)
        started = client.post("/api/v1/admin/reindex")
        assert started.status_code == 202
        final, seen = _follow_task(client, started.get_json()["task_id"])
        time.sleep(1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert final["state"] == "SUCCESS", final
    loading = [body["progress"] for body in seen if body["state"] == "PROGRESS" and body["progress"]["phase"] == "loading"]
    assert loading, [body["state"] for body in seen]
    assert loading[-1]["total"] >= SEEDED
    assert final["result"]["status"] == "done"
    assert final["result"]["indexed"] >= SEEDED - 1000
    assert final["result"]["failed"] == 0
    assert search_failures == []
    assert searches[0] > 10
    assert write_failures == []
    new_indices = search_index.current_indices(alias)
    assert new_indices == [final["result"]["index"]]
    assert not set(old_indices) & set(new_indices)
    assert final["result"]["deleted_indices"] == old_indices
    es = clients.elastic(clients.TASK)
    assert not es.indices.exists(index=old_indices[0])
    assert not es.indices.exists_alias(name=indexing.building_alias(alias))
    _assert_index_matches_catalog(uid)


def test_second_reindex_is_409(client, app):
    alias = app.config["SETTINGS"].elastic_index
    assert indexing.acquire_reindex_lock(alias, "held-by-test")
    try:
        response = client.post("/api/v1/admin/reindex")
    finally:
        indexing.release_reindex_lock(alias, "held-by-test")

    assert response.status_code == 409
    assert response.get_json()["errors"]["task_id"] == "held-by-test"


def test_unknown_task_is_pending(client):
    response = client.get("/api/v1/tasks/no-such-task")

    assert response.status_code == 200
    assert response.get_json()["state"] == "PENDING"
    assert response.get_json()["result"] is None


def test_admin_endpoints_need_admin_scope(anonymous_client):
    assert anonymous_client.post("/api/v1/admin/reindex").status_code == 401
    assert anonymous_client.get("/api/v1/tasks/x").status_code == 401


def test_cli_reindex_swaps_alias(app, client, uid):
    alias = app.config["SETTINGS"].elastic_index
    client.post("/api/v1/products", json=product_body(f"{uid}-1"))
    before = search_index.current_indices(alias)

    result = app.test_cli_runner().invoke(args=["catalog", "reindex"])

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout[result.stdout.index("{"):])
    assert search_index.current_indices(alias) == [summary["index"]]
    assert summary["index"] not in before
    assert summary["failed"] == 0
    assert search_document(f"{uid}-1") is not None
    assert indexing.reindex_lock_owner(alias) is None


def test_reindex_deletes_crashed_leftover(app, client, celery_worker, uid):
    alias = app.config["SETTINGS"].elastic_index
    es = clients.elastic(clients.TASK)
    leftover = f"{alias}-v00000000leftover{uid}"
    es.indices.create(index=leftover, aliases={indexing.building_alias(alias): {}}, **search_index.index_body(1, 0))

    result = app.test_cli_runner().invoke(args=["catalog", "reindex"])

    assert result.exit_code == 0, result.output
    assert not es.indices.exists(index=leftover)
    assert not es.indices.exists_alias(name=indexing.building_alias(alias))
    version = client.post("/api/v1/products", json=product_body(f"{uid}-1")).get_json()["version"]
    wait_for(lambda: (search_document(f"{uid}-1") or {}).get("_version") == version, message="indexing after the reindex")


def test_task_states_read_from_backend(client, uid):
    from tasks.celery_app import app as celery_app

    backend = celery_app.backend
    backend.store_result(f"{uid}-running", {"phase": "loading", "done": 10, "total": 40}, "PROGRESS")
    backend.mark_as_done(f"{uid}-done", {"indexed": 40})
    backend.mark_as_failure(f"{uid}-failed", ValueError("bulk rejected"))

    running = client.get(f"/api/v1/tasks/{uid}-running").get_json()
    done = client.get(f"/api/v1/tasks/{uid}-done").get_json()
    failed = client.get(f"/api/v1/tasks/{uid}-failed").get_json()

    assert (running["state"], running["progress"]) == ("PROGRESS", {"phase": "loading", "done": 10, "total": 40})
    assert (done["state"], done["result"]) == ("SUCCESS", {"indexed": 40})
    assert failed["state"] == "FAILURE"
    assert failed["error"] == "ValueError: bulk rejected"
    assert failed["result"] is None
