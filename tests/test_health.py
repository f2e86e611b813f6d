import shutil
import signal
import socket
import subprocess
import time

import pytest


def test_health_is_ok(client):
    response = client.get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_reports_each_dependency_up(client):
    response = client.get("/ready")
    body = response.get_json()
    assert response.status_code == 200, body
    assert body["status"] == "ready"
    assert set(body["dependencies"]) == {"elasticsearch", "clickhouse", "redis"}
    for name, state in body["dependencies"].items():
        assert state["status"] == "up", name


def test_ready_is_503_when_redis_is_stopped(storage_ready, tmp_path):
    """A throwaway redis-server is started, used, then killed: /ready must report which one is down."""
    from webapp import create_app

    port = _free_port()
    process = subprocess.Popen(
        [shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _wait_port(port)
        settings = storage_ready.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0"})
        app = create_app(settings)
        client = app.test_client()
        assert client.get("/ready").status_code == 200

        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

        response = client.get("/ready")
        body = response.get_json()
        assert response.status_code == 503
        assert body["status"] == "unavailable"
        assert body["dependencies"]["redis"]["status"] == "down"
        assert body["dependencies"]["clickhouse"]["status"] == "up"
        assert body["dependencies"]["elasticsearch"]["status"] == "up"
    finally:
        if process.poll() is None:
            process.kill()
        # Later tests in this process use the session's settings again.
        from storage import clients
        from tasks.celery_app import configure_celery

        clients.configure(storage_ready)
        configure_celery(storage_ready)


def test_openapi_document_lists_paths(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    assert "/health" in spec["paths"]
    assert "/ready" in spec["paths"]


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_docs_pages_use_local_assets(client, path):
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/assets/vendor/" in html
    assert "cdn" not in html.lower()


@pytest.mark.parametrize(
    "asset",
    [
        "/assets/vendor/swagger-ui-dist/swagger-ui-bundle.js",
        "/assets/vendor/swagger-ui-dist/swagger-ui.css",
        "/assets/vendor/redoc/bundles/redoc.standalone.js",
    ],
)
def test_docs_assets_are_served(client, asset):
    response = client.get(asset)
    assert response.status_code == 200
    assert len(response.data) > 10_000


def test_vendor_outside_allowlist_is_404(client):
    assert client.get("/assets/vendor/ms/package.json").status_code == 404


def test_unknown_path_is_json_404(client):
    response = client.get("/no/such/path")
    assert response.status_code == 404
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"}
    assert body["code"] == 404
    assert body["status"] == "Not Found"


def test_wrong_method_is_json_405(client):
    response = client.post("/health")
    assert response.status_code == 405
    assert response.get_json()["code"] == 405
    assert "GET" in response.headers["Allow"]


def test_request_id_is_echoed_or_made(client):
    assert client.get("/health", headers={"X-Request-Id": "abc-123"}).headers["X-Request-Id"] == "abc-123"
    generated = client.get("/health").headers["X-Request-Id"]
    assert len(generated) == 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"port {port} never opened")
