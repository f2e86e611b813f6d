"""Analytics endpoints while ClickHouse is down: a private ClickHouse instance is really stopped."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from storage import clients, migrations
from storage.clickhouse import ClickHouse
from tests.analytics.fixtures import insert_fixed_set
from tests.conftest import ROOT, SERVICES

pytestmark = [pytest.mark.fault, pytest.mark.slow]

CLICKHOUSE_PORT = 9052
CLICKHOUSE_HTTP_PORT = 8174
RANGE = {"from": "2026-03-10T00:00:00Z", "to": "2026-03-11T00:00:00Z"}


def _services(command: str, env: dict) -> None:
    subprocess.run([str(SERVICES), command, "clickhouse"], check=True, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def private_clickhouse(storage_ready, session_token):
    state_dir = ROOT / ".local" / "private" / f"analytics-{session_token}"
    env = dict(os.environ, LOCAL_STATE_DIR=str(state_dir), LOCAL_CLICKHOUSE_PORT=str(CLICKHOUSE_PORT),
               LOCAL_CLICKHOUSE_HTTP_PORT=str(CLICKHOUSE_HTTP_PORT), LOCAL_ES_PORT="9251", LOCAL_REDIS_PORT="6394")
    _services("start", env)
    settings = storage_ready.model_copy(update={"clickhouse_port": CLICKHOUSE_PORT,
                                                "clickhouse_db": "analytics_faults"})
    migrations.ensure_database(settings, timeout=30)
    client = ClickHouse(settings, timeout=60)
    migrations.apply_migrations(client)
    insert_fixed_set(client)
    client.disconnect()
    yield settings, env

    clients.configure(storage_ready)
    _services("stop", env)
    shutil.rmtree(state_dir, ignore_errors=True)


def test_clickhouse_down_gives_503(app, admin_token, private_clickhouse, storage_ready):
    settings, env = private_clickhouse
    clients.configure(settings)
    http = app.test_client()
    http.environ_base["HTTP_X_API_KEY"] = admin_token

    try:
        before = http.get("/api/v1/analytics/search/summary", query_string=RANGE)
        assert before.status_code == 200
        assert before.get_json()["searches"] == 8

        _services("stop", env)
        for path in ("/search/summary", "/search/popular", "/products/top", "/search/log"):
            response = http.get(f"/api/v1/analytics{path}", query_string=RANGE)
            assert response.status_code == 503, path
            assert response.headers["Retry-After"] == "5", path
            assert response.get_json()["errors"] == {"dependency": "clickhouse"}, path

        _services("start", env)
        clients.configure(settings)
        after = http.get("/api/v1/analytics/search/summary", query_string=RANGE)
        assert after.status_code == 200
        assert after.get_json()["searches"] == 8
    finally:
        clients.configure(storage_ready)
