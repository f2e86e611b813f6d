"""Session fixtures: the real services, started by the project's own script, and
settings of this test session's own (a ClickHouse database, an index alias and
a Redis database no other test run uses), removed afterwards.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "scripts" / "services.sh"
DATASETS = ROOT.parent / "shared" / "datasets"


def pytest_configure(config):
    config.addinivalue_line("markers", "fault: stops or kills real services; run with -m fault")
    config.addinivalue_line("markers", "slow: loads real datasets or runs for more than a few seconds")
    config.addinivalue_line("markers", "browser: needs Debian's chromium")


def pytest_collection_modifyitems(config, items):
    # Tests that stop or kill a service run after all others, so a service
    # restarting late cannot fail an unrelated test.
    items.sort(key=lambda item: item.get_closest_marker("fault") is not None)


@pytest.fixture(scope="session")
def services() -> None:
    """Start Elasticsearch, ClickHouse and Redis unless they already respond."""
    subprocess.run([str(SERVICES), "start"], check=True, cwd=ROOT)


@pytest.fixture(scope="session")
def session_token() -> str:
    return secrets.token_hex(4)


_CLAIM_KEY = "tests:claimed-by"


def claim_redis_db(owner: str) -> int:
    """Claim a Redis database (1 to 63) no other test run holds; release_redis_db frees it.

    Runs of the suite on one machine share the Redis server, so each takes a
    database of its own with SET NX instead of guessing from a hash.
    """
    import random

    import redis

    candidates = list(range(1, 64))
    random.shuffle(candidates)
    for db in candidates:
        client = redis.Redis(port=6380, db=db)
        try:
            if client.set(_CLAIM_KEY, owner, nx=True, ex=6 * 3600):
                return db
        finally:
            client.close()
    raise RuntimeError("every Redis database 1-63 on 127.0.0.1:6380 is claimed by another test run")


def release_redis_db(db: int, owner: str) -> None:
    import redis

    client = redis.Redis(port=6380, db=db)
    try:
        if client.get(_CLAIM_KEY) == owner.encode():
            client.flushdb()
    finally:
        client.close()


@pytest.fixture(scope="session")
def session_redis_db(services, session_token):
    db = claim_redis_db(f"session-{session_token}")
    yield db
    release_redis_db(db, f"session-{session_token}")


@pytest.fixture(scope="session")
def settings(services, session_token, session_redis_db) -> Settings:
    """Settings of this test session, with names of its own on the shared services."""
    redis_db = session_redis_db
    return load_settings(
        debug=True,
        # Tests send many requests from one address; tests/security turns limits on.
        rate_limits_enabled=False,
        clickhouse_db=f"test_{session_token}",
        elastic_index=f"test_{session_token}_products",
        redis_url=f"redis://127.0.0.1:6380/{redis_db}",
        startup_retries=60,
    )


@pytest.fixture(scope="session")
def service_env(settings) -> dict[str, str]:
    """The environment that makes a subprocess (gunicorn, a worker) use this session's settings."""
    env = dict(os.environ)
    env.update({
        "DEBUG": "true",
        "CLICKHOUSE_DB": settings.clickhouse_db,
        "ELASTIC_INDEX": settings.elastic_index,
        "REDIS_URL": settings.redis_dsn,
        "ELASTIC_HOST": settings.elastic_url,
        "CLICKHOUSE_HOST": settings.clickhouse_host,
        "CLICKHOUSE_PORT": str(settings.clickhouse_port),
        "PYTHONPATH": str(ROOT),
        # Subprocesses started by tests exercise pipelines, not access control
        # (tests/security covers that), so they run without keys or limits.
        "AUTH_ENABLED": "false",
        "RATE_LIMITS_ENABLED": "false",
    })
    return env


@pytest.fixture(scope="session")
def storage_ready(settings):
    """Apply the migrations and create the index of this session; drop both at the end."""
    from storage import clients, migrations, search_index
    from storage.setup import init_storage

    init_storage(settings)
    yield settings
    clients.configure(settings)
    search_index.drop_all(settings.elastic_index)
    migrations.drop_database(settings)


@pytest.fixture(scope="session")
def app(storage_ready):
    from webapp import create_app

    flask_app = create_app(storage_ready)
    flask_app.config["TESTING"] = True
    return flask_app


@pytest.fixture(scope="session")
def admin_token(storage_ready) -> str:
    """A token with every scope, created for this session's Redis database."""
    from storage import api_keys

    _key, token = api_keys.create_key("tests", list(api_keys.SCOPES))
    return token


@pytest.fixture()
def client(app, admin_token):
    """A test client that sends an all-scope API key; use anonymous_client to test without one."""
    test_client = app.test_client()
    test_client.environ_base["HTTP_X_API_KEY"] = admin_token
    return test_client


@pytest.fixture()
def anonymous_client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def celery_worker(storage_ready, service_env):
    """A real Celery worker process on all three queues, for this session's Redis."""
    log_path = ROOT / ".local" / "log" / f"test-worker-{storage_ready.clickhouse_db}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker",
             "-Q", "indexing,events,aggregation", "--concurrency", "2", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=service_env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _wait_for_worker(process, log_path)
    yield process
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def _wait_for_worker(process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"celery worker exited with {process.returncode}; see {log_path}")
        if b"ready." in log_path.read_bytes():
            return
        time.sleep(0.2)
    raise RuntimeError(f"celery worker not ready after {timeout}s; see {log_path}")


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.2, message: str = "condition"):
    """Poll predicate until it returns a truthy value, which is returned; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)
