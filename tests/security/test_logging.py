"""Log lines: a request id that follows a request into its tasks, and no keys or shopper ids."""

import json
import secrets

from tests.conftest import ROOT, wait_for


def _worker_log(settings) -> list[dict]:
    path = ROOT / ".local" / "log" / f"test-worker-{settings.clickhouse_db}.log"
    lines = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return lines


def test_request_id_reaches_task_logs(client, celery_worker, storage_ready):
    request_id = f"rid-{secrets.token_hex(6)}"
    response = client.post("/api/v1/products", headers={"X-Request-Id": request_id}, json={
        "id": f"log-test-{secrets.token_hex(4)}", "name": "Request id lamp", "price": "12.50", "currency": "EUR",
    })
    assert response.status_code == 201, response.get_json()
    assert response.headers["X-Request-Id"] == request_id

    lines = wait_for(lambda: [line for line in _worker_log(storage_ready) if line.get("request_id") == request_id],
                     timeout=60, message="a worker log line carrying the request id")
    assert any(line["logger"].startswith(("tasks.", "storage.", "celery.app.trace")) for line in lines)


def test_logs_carry_no_key_or_shopper_ids(client, celery_worker, storage_ready, admin_token):
    session_id = f"session-{secrets.token_hex(8)}"
    user_id = f"user-{secrets.token_hex(8)}"
    headers = {"X-Session-Id": session_id, "X-User-Id": user_id}
    assert client.get("/api/v1/search", query_string={"q": "lamp"}, headers=headers).status_code == 200
    accepted = client.post("/api/v1/events", json={"type": "view", "product_id": "p1", "session_id": session_id,
                                                   "user_id": user_id})
    assert accepted.status_code == 202
    purge = client.post("/api/v1/admin/events/purge", json={"user_id": user_id})
    assert purge.status_code == 202, purge.get_json()

    task_id = purge.get_json()["task_id"]
    wait_for(lambda: any(task_id in json.dumps(line) for line in _worker_log(storage_ready)), timeout=60,
             message="the purge task in the worker log")
    text = (ROOT / ".local" / "log" / f"test-worker-{storage_ready.clickhouse_db}.log").read_text(errors="replace")
    assert admin_token not in text
    assert admin_token.split("_")[2] not in text
    assert user_id not in text
    assert session_id not in text
