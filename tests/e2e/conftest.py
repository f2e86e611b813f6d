"""The API under gunicorn and a Celery worker, on storage of their own.

The end-to-end and browser tests compare analytics with what they sent, so no
other test may write into their ClickHouse database, index or Redis database.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from config import load_settings
from replay.queries import load_queries
from replay.traffic import Replayer
from tests.conftest import DATASETS, ROOT, _wait_for_worker, claim_redis_db, release_redis_db, wait_for

CATALOG = DATASETS / "bestbuy-products-typesense" / "products.jsonl"
SESSIONS = 500


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveStack:
    def __init__(self, token: str, redis_db: int):
        self.settings = load_settings(
            debug=True,
            rate_limits_enabled=False,
            clickhouse_db=f"e2e_{token}",
            elastic_index=f"e2e_{token}_products",
            redis_url=f"redis://127.0.0.1:6380/{redis_db}",
        )
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DEBUG": "true",
            "RATE_LIMITS_ENABLED": "false",
            "CLICKHOUSE_DB": self.settings.clickhouse_db,
            "ELASTIC_INDEX": self.settings.elastic_index,
            "REDIS_URL": self.settings.redis_dsn,
            "BIND": f"127.0.0.1:{self.port}",
            "WEB_CONCURRENCY": "2",
        }
        self.log_dir = ROOT / ".local" / "log"
        self.processes: list[subprocess.Popen] = []

    def spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"e2e-{name}.log", "wb") as log:
            process = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True)

    def stop(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="package")
def live_stack(storage_ready):
    from storage import clients, migrations, search_index

    token = secrets.token_hex(4)
    redis_db = claim_redis_db(f"e2e-{token}")
    stack = LiveStack(token, redis_db)
    started = stack.flask("storage", "init")
    assert started.returncode == 0, started.stderr
    try:
        stack.spawn("web", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"])
        worker = stack.spawn("worker", [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker",
                                        "-Q", "indexing,events,aggregation", "--concurrency", "2",
                                        "--loglevel", "INFO", "--without-gossip", "--without-mingle"])
        _wait_for_worker(worker, stack.log_dir / "e2e-worker.log")
        wait_for(lambda: _ready(stack), timeout=60, message="gunicorn to answer /ready")
        yield stack
    finally:
        stack.stop()
        clients.configure(stack.settings)
        search_index.drop_all(stack.settings.elastic_index)
        migrations.drop_database(stack.settings)
        release_redis_db(redis_db, f"e2e-{token}")
        clients.configure(storage_ready)


def _ready(stack: LiveStack) -> bool:
    try:
        return requests.get(stack.base_url + "/ready", timeout=5).status_code == 200
    except requests.RequestException:
        return False


@pytest.fixture(scope="package")
def live_token(live_stack) -> str:
    """A token with the ingest and analytics scopes on the live stack's Redis."""
    created = live_stack.flask("keys", "create", "--name", "e2e", "--scope", "ingest", "--scope", "analytics")
    assert created.returncode == 0, created.stderr
    return json.loads(created.stdout)["token"]


def wait_until(predicate, timeout: float, message: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout}s waiting for {message}")


@pytest.fixture(scope="package")
def replayed(live_stack, live_token):
    if not CATALOG.exists() or not (DATASETS / "algolia-bestbuy-query-suggestions").exists():
        pytest.skip(f"the real datasets are not at {DATASETS}")

    imported = live_stack.flask("catalog", "import", str(CATALOG), "--mapping", "bestbuy")
    assert imported.returncode == 0, imported.stderr
    summary = json.loads(imported.stdout)
    wait_for(lambda: _search_total(live_stack, "") >= summary["created"] + summary["updated"], timeout=120,
             message="the imported catalog to be searchable")

    # The probes above are searches too; timestamps have whole seconds, so the
    # window starts two seconds after the last one.
    time.sleep(2)
    started = datetime.now(timezone.utc).replace(microsecond=0)
    replayer = Replayer(live_stack.base_url, load_queries(DATASETS), api_key=live_token, seed=2026, per_second=0)
    http = requests.Session()
    for number in range(SESSIONS):
        replayer.run_session(number, http)
    report = replayer.report
    assert report.search_errors == 0
    assert report.event_errors == 0

    expected = (sum(report.events_accepted.values()), len(report.search_log))
    wait_for(lambda: _stored_counts(live_stack, started) == expected, timeout=120,
             message=f"the pipeline to store {expected} (events, searches)")
    window = {"from": started.isoformat(), "to": (datetime.now(timezone.utc) + timedelta(minutes=1)).isoformat()}
    return report, window


def _search_total(stack, query: str) -> int:
    response = requests.get(stack.base_url + "/api/v1/search", params={"q": query, "page_size": 1}, timeout=10)
    return response.json()["total"] if response.status_code == 200 else -1


def _stored_counts(stack, since: datetime) -> tuple[int, int]:
    from storage.clickhouse import ClickHouse

    client = ClickHouse(stack.settings, timeout=30)
    params = {"since": since.replace(tzinfo=None)}
    try:
        (events,), = client.execute("SELECT count() FROM events WHERE timestamp >= toDateTime(%(since)s)", params, tag="e2e_test")
        (searches,), = client.execute("SELECT count() FROM search_events WHERE timestamp >= toDateTime(%(since)s)", params,
                                      tag="e2e_test")
    finally:
        client.disconnect()
    return events, searches
