"""Elasticsearch down: the API keeps accepting writes, and the worker's retries index them once it is back.

Runs on a private Elasticsearch (port 9221) and a private Redis (port 6391)
so stopping them touches no other test session.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from pydantic import AnyUrl

from storage import clients, search_index
from tasks.celery_app import configure_celery
from tests.catalog.conftest import product_body, search_document
from tests.conftest import ROOT, SERVICES, wait_for

ES_PORT = 9221
REDIS_PORT = 6391
CLICKHOUSE_PORT = 9022
CLICKHOUSE_HTTP_PORT = 8144


def _point_celery_at(settings) -> None:
    """Send tasks to the Redis of these settings (configure_celery drops connections to another one)."""
    configure_celery(settings)


@pytest.fixture()
def private_stack(storage_ready, service_env, session_token):
    """A private Elasticsearch and Redis, an app and a worker using them, all removed afterwards."""
    state_dir = ROOT / ".local" / "private" / f"catalog-faults-{session_token}"
    env = {**os.environ, "LOCAL_STATE_DIR": str(state_dir), "LOCAL_ES_PORT": str(ES_PORT),
           "LOCAL_REDIS_PORT": str(REDIS_PORT), "LOCAL_CLICKHOUSE_PORT": str(CLICKHOUSE_PORT),
           "LOCAL_CLICKHOUSE_HTTP_PORT": str(CLICKHOUSE_HTTP_PORT)}
    subprocess.run([str(SERVICES), "start", "elasticsearch", "redis"], check=True, cwd=ROOT, env=env)
    settings = storage_ready
    private = settings.model_copy(update={
        "elastic_host": AnyUrl(f"http://127.0.0.1:{ES_PORT}"),
        "redis_url": AnyUrl(f"redis://127.0.0.1:{REDIS_PORT}/0"),
    })
    worker = None
    try:
        from storage import api_keys
        from webapp import create_app

        app = create_app(private)
        _point_celery_at(private)
        search_index.ensure_index(private.elastic_index)
        _key, token = api_keys.create_key("faults", list(api_keys.SCOPES))
        client = app.test_client()
        client.environ_base["HTTP_X_API_KEY"] = token

        log_path = ROOT / ".local" / "log" / f"test-worker-faults-{session_token}.log"
        worker_env = {**service_env, "ELASTIC_HOST": private.elastic_url, "REDIS_URL": private.redis_dsn}
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker", "-Q", "indexing",
                 "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
                cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        wait_for(lambda: b"ready." in log_path.read_bytes(), timeout=60, message="the private worker")
        yield {"client": client, "env": env, "log": log_path}
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        subprocess.run([str(SERVICES), "stop", "elasticsearch", "redis"], cwd=ROOT, env=env)
        shutil.rmtree(state_dir, ignore_errors=True)
        clients.configure(settings)
        _point_celery_at(settings)


@pytest.mark.fault
@pytest.mark.slow
def test_writes_accepted_while_elasticsearch_down(private_stack, uid):
    client = private_stack["client"]
    first = client.post("/api/v1/products", json=product_body(f"{uid}-1")).get_json()
    wait_for(lambda: (search_document(f"{uid}-1") or {}).get("_version") == first["version"],
             timeout=60, message="the first version indexed")

    subprocess.run([str(SERVICES), "stop", "elasticsearch"], check=True, cwd=ROOT, env=private_stack["env"])
    started = time.monotonic()
    patched = client.patch(f"/api/v1/products/{uid}-1", json={"price": "12.34"})
    created = client.post("/api/v1/products", json=product_body(f"{uid}-2"))
    write_seconds = time.monotonic() - started

    assert patched.status_code == 200
    assert created.status_code == 201
    assert write_seconds < 2
    assert client.get(f"/api/v1/products/{uid}-1").get_json()["price"] == "12.34"
    wait_for(lambda: b"Retry in" in private_stack["log"].read_bytes(), timeout=60, message="a retry in the worker log")

    subprocess.run([str(SERVICES), "start", "elasticsearch"], check=True, cwd=ROOT, env=private_stack["env"])
    clients.reset()
    wait_for(lambda: (search_document(f"{uid}-1") or {}).get("_version") == patched.get_json()["version"],
             timeout=150, interval=1, message="the update indexed after the restart")
    wait_for(lambda: search_document(f"{uid}-2") is not None, timeout=150, interval=1, message="the new product indexed")
    assert search_document(f"{uid}-1")["price_exact"] == "12.34"
