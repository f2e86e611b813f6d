import pytest


@pytest.fixture()
def small_body_app(storage_ready):
    from webapp import create_app

    return create_app(storage_ready.model_copy(update={"max_request_bytes": 2048}))


def test_oversized_body_is_413_json(small_body_app, admin_token):
    client = small_body_app.test_client()
    events = [{"type": "view", "product_id": f"p{n}", "session_id": "s" * 50} for n in range(100)]
    response = client.post("/api/v1/events", json={"events": events}, headers={"X-API-Key": admin_token})
    body = response.get_json()
    assert response.status_code == 413
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["code"] == 413


def test_body_within_limit_is_accepted(small_body_app, admin_token):
    client = small_body_app.test_client()
    response = client.post("/api/v1/events", json={"type": "view", "product_id": "p1"},
                           headers={"X-API-Key": admin_token})
    assert response.status_code == 202


@pytest.mark.parametrize("path", ["/api/v1/events", "/api/v1/products"])
def test_invalid_json_is_400_json(client, path):
    response = client.post(path, data="{not json", content_type="application/json")
    body = response.get_json()
    assert response.status_code == 400
    assert body["code"] == 400
    assert set(body) == {"code", "status", "message", "errors"}
