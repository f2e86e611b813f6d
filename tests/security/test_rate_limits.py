import pytest

from storage import api_keys


@pytest.fixture()
def limited_app(storage_ready, session_token):
    from webapp import create_app

    settings = storage_ready.model_copy(update={
        "rate_limits_enabled": True,
        "rate_limit_search": "3/minute",
        "rate_limit_analytics": "2/minute",
        # A name of its own, so counters of other tests never mix in.
        "app_name": f"ratelimit-{session_token}",
    })
    app = create_app(settings)
    yield app
    from storage import clients

    redis = clients.redis_client()
    for key in redis.scan_iter(f"*ratelimit-{session_token}*"):
        redis.delete(key)


def test_limit_exceeded_is_429_with_retry_after(limited_app):
    client = limited_app.test_client()
    codes = [client.get("/api/v1/search?q=tv", environ_base={"REMOTE_ADDR": "127.0.0.10"}).status_code
             for _ in range(4)]
    assert 429 not in codes[:3]
    assert codes[3] == 429
    response = client.get("/api/v1/search?q=tv", environ_base={"REMOTE_ADDR": "127.0.0.10"})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    body = response.get_json()
    assert body["code"] == 429
    assert set(body) == {"code", "status", "message", "errors"}


def test_limits_are_per_address(limited_app):
    client = limited_app.test_client()
    for _ in range(3):
        client.get("/api/v1/search?q=tv", environ_base={"REMOTE_ADDR": "127.0.0.11"})
    assert client.get("/api/v1/search?q=tv", environ_base={"REMOTE_ADDR": "127.0.0.11"}).status_code == 429
    assert client.get("/api/v1/search?q=tv", environ_base={"REMOTE_ADDR": "127.0.0.12"}).status_code != 429


def test_limits_are_per_key_and_group(limited_app):
    client = limited_app.test_client()
    _k1, first = api_keys.create_key("a", ["analytics"])
    _k2, second = api_keys.create_key("b", ["analytics"])
    path = "/api/v1/analytics/search/summary"
    for _ in range(2):
        assert client.get(path, headers={"X-API-Key": first}).status_code != 429
    assert client.get(path, headers={"X-API-Key": first}).status_code == 429
    assert client.get(path, headers={"X-API-Key": second}).status_code != 429
    # The search group has its own budget for the same key.
    assert client.get("/api/v1/search?q=tv", headers={"X-API-Key": first}).status_code != 429


def test_retry_after_only_on_refusals(limited_app):
    client = limited_app.test_client()
    first = client.get("/api/v1/search?q=tv", environ_base={"REMOTE_ADDR": "127.0.0.13"})
    assert first.status_code == 200
    assert "Retry-After" not in first.headers
    assert "X-RateLimit-Remaining" in first.headers
