import json
import subprocess
import sys

import pytest

from storage import api_keys
from tests.conftest import ROOT
from webapp.security import route_group


@pytest.fixture()
def analytics_token(storage_ready):
    _key, token = api_keys.create_key("analyst", ["analytics"])
    return token


def test_token_verifies_and_keeps_only_hash(storage_ready):
    key, token = api_keys.create_key("shop-backend", ["ingest", "catalog"])
    assert api_keys.verify_token(token) == key
    from storage import clients

    stored = clients.redis_client().hgetall(f"apikey:{key.key_id}")
    secret = token.split("_", 2)[2]
    assert secret.encode() not in b"".join(stored.values())
    assert stored[b"secret_sha256"] != secret.encode()


@pytest.mark.parametrize("token", ["", "ssk__", "ssk_nokey_secret", "bearer abc", "ssk_" + "a" * 12 + "_wrong"])
def test_malformed_or_unknown_token_rejected(storage_ready, token):
    assert api_keys.verify_token(token) is None


def test_wrong_secret_for_known_id_rejected(storage_ready):
    key, token = api_keys.create_key("x", ["ingest"])
    assert api_keys.verify_token(token[:-2] + "zz") is None


def test_unknown_scope_rejected(storage_ready):
    with pytest.raises(ValueError, match="invalid scopes"):
        api_keys.create_key("x", ["everything"])


def test_missing_key_is_401_json(anonymous_client):
    response = anonymous_client.get("/api/v1/analytics/search/summary")
    body = response.get_json()
    assert response.status_code == 401
    assert set(body) == {"code", "status", "message", "errors"}
    assert "X-API-Key" in body["message"]


def test_invalid_key_is_401(anonymous_client):
    response = anonymous_client.get("/api/v1/analytics/search/summary", headers={"X-API-Key": "ssk_abc_def"})
    assert response.status_code == 401
    assert response.get_json()["message"] == "invalid or revoked API key"


def test_wrong_scope_is_403(anonymous_client, analytics_token):
    response = anonymous_client.post("/api/v1/events", json={}, headers={"X-API-Key": analytics_token})
    assert response.status_code == 403
    assert "'ingest' scope" in response.get_json()["message"]


def test_right_scope_passes_auth(anonymous_client, analytics_token):
    response = anonymous_client.get("/api/v1/analytics/search/summary", headers={"X-API-Key": analytics_token})
    assert response.status_code not in (401, 403)


def test_revoked_key_is_401(anonymous_client, storage_ready):
    key, token = api_keys.create_key("temp", ["analytics"])
    assert anonymous_client.get("/api/v1/analytics/search/summary", headers={"X-API-Key": token}).status_code != 401
    assert api_keys.revoke_key(key.key_id) is True
    assert anonymous_client.get("/api/v1/analytics/search/summary", headers={"X-API-Key": token}).status_code == 401


def test_public_paths_need_no_key(anonymous_client):
    assert anonymous_client.get("/health").status_code == 200
    assert anonymous_client.get("/openapi.json").status_code == 200
    assert anonymous_client.get("/api/v1/search?q=x").status_code not in (401, 403)


def test_search_can_require_key(storage_ready):
    from webapp import create_app

    app = create_app(storage_ready.model_copy(update={"search_requires_key": True}))
    client = app.test_client()
    assert client.get("/api/v1/search?q=x").status_code == 401
    _key, token = api_keys.create_key("front-end", ["search"])
    assert client.get("/api/v1/search?q=x", headers={"X-API-Key": token}).status_code not in (401, 403)


@pytest.mark.parametrize(
    ("path", "method", "group"),
    [
        ("/api/v1/events", "POST", "ingest"),
        ("/api/v1/products", "POST", "catalog"),
        ("/api/v1/products/abc", "DELETE", "catalog"),
        ("/api/v1/products/abc", "GET", "search"),
        ("/api/v1/categories", "GET", "search"),
        ("/api/v1/search/suggest", "GET", "search"),
        ("/api/v1/analytics/products/top", "GET", "analytics"),
        ("/api/v1/admin/reindex", "POST", "admin"),
        ("/api/v1/tasks/123", "GET", "admin"),
        ("/ready", "GET", None),
        ("/api/v1/eventsx", "POST", None),
    ],
)
def test_route_groups(path, method, group):
    assert route_group(path, method) == group


def test_openapi_declares_scheme(client):
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "apiKey", "in": "header", "name": "X-API-Key"}


def test_keys_cli_create_list_revoke(service_env):
    def flask(*args):
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "keys", *args],
                              cwd=ROOT, env=service_env, capture_output=True, text=True)

    created = flask("create", "--name", "cli-test", "--scope", "ingest", "--scope", "analytics")
    assert created.returncode == 0, created.stderr
    record = json.loads(created.stdout)
    assert record["scopes"] == ["analytics", "ingest"]
    assert record["token"].startswith(f"ssk_{record['key_id']}_")

    listed = flask("list")
    assert record["key_id"] in listed.stdout
    assert record["token"] not in listed.stdout

    assert flask("revoke", record["key_id"]).returncode == 0
    assert "revoked" in flask("list").stdout
    missing = flask("revoke", "nosuchkey")
    assert missing.returncode != 0
    assert "no API key with id 'nosuchkey'" in missing.stderr
