"""Ingestion through real failures: a flush worker killed with SIGKILL mid-batch, ClickHouse stopped.

Each test runs on a private Redis and a private ClickHouse (ports 6393 and
9042) with a Celery worker process of its own, so stopping and killing them
touches nothing another test session uses.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from storage import clients, event_buffer, migrations
from storage.clickhouse import ClickHouse
from tasks.celery_app import configure_celery
from tests.conftest import ROOT, SERVICES, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.slow]

REDIS_PORT = 6393
CLICKHOUSE_PORT = 9042
CLICKHOUSE_HTTP_PORT = 8164
# Large batches keep a flush busy long enough to be killed in the middle of one.
BATCH_SIZE = 10_000


class PrivateServices:
    """Redis and ClickHouse instances of this module, started and stopped with scripts/services.sh."""

    def __init__(self, token: str):
        self.state_dir = ROOT / ".local" / "private" / f"events-{token}"
        self.env = dict(
            os.environ,
            LOCAL_STATE_DIR=str(self.state_dir),
            LOCAL_REDIS_PORT=str(REDIS_PORT),
            LOCAL_CLICKHOUSE_PORT=str(CLICKHOUSE_PORT),
            LOCAL_CLICKHOUSE_HTTP_PORT=str(CLICKHOUSE_HTTP_PORT),
            LOCAL_ES_PORT="9241",
        )

    def run(self, command: str, service: str) -> None:
        subprocess.run([str(SERVICES), command, service], check=True, cwd=ROOT, env=self.env)


@pytest.fixture(scope="module")
def private(storage_ready, session_token):
    services = PrivateServices(session_token)
    services.run("start", "redis")
    services.run("start", "clickhouse")
    settings = storage_ready.model_copy(update={
        "redis_url": f"redis://127.0.0.1:{REDIS_PORT}/0",
        "clickhouse_port": CLICKHOUSE_PORT,
        "clickhouse_db": "events_faults",
        "event_batch_size": BATCH_SIZE,
        "auth_enabled": False,
        "rate_limits_enabled": False,
    })
    migrations.ensure_database(settings, timeout=10)
    admin = ClickHouse(settings, timeout=30)
    migrations.apply_migrations(admin)
    admin.disconnect()
    yield services, settings

    clients.configure(storage_ready)
    configure_celery(storage_ready)
    services.run("stop", "clickhouse")
    services.run("stop", "redis")
    shutil.rmtree(services.state_dir, ignore_errors=True)


@pytest.fixture()
def private_app(private):
    from webapp import create_app

    _services, settings = private
    app = create_app(settings)
    clients.redis_client().flushdb()
    return app


@pytest.fixture()
def worker(private, service_env):
    """A Celery worker process on the events queue of the private services."""
    _services, settings = private
    env = dict(service_env, REDIS_URL=settings.redis_dsn, CLICKHOUSE_PORT=str(CLICKHOUSE_PORT),
               CLICKHOUSE_DB=settings.clickhouse_db, EVENT_BATCH_SIZE=str(BATCH_SIZE))
    log_path = ROOT / ".local" / "log" / f"test-events-worker-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker", "-Q", "events",
             "--concurrency", "1", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    wait_for(lambda: b"ready." in log_path.read_bytes() or process.poll() is not None, timeout=60,
             message="the events worker to start")
    assert process.poll() is None, log_path.read_text()
    yield process, log_path
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def pool_children(pid: int) -> list[int]:
    """Return the pids of the worker's pool processes (its children)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def stored_counts(settings, prefix: str) -> tuple[int, int]:
    """Return the stored rows and distinct event_ids of one test (its event_ids start with prefix)."""
    client = ClickHouse(settings, timeout=30)
    try:
        (count, unique), = client.execute(
            "SELECT count(), uniqExact(event_id) FROM events WHERE startsWith(event_id, %(prefix)s)",
            {"prefix": prefix + "-"}, tag="test")
    finally:
        client.disconnect()
    return count, unique


def post_batches(app, batches: int, size: int, prefix: str, pause: float = 0.0) -> list[str]:
    """Send batches of view events and return the event_ids accepted with 202."""
    client = app.test_client()
    accepted = []
    for b in range(batches):
        now = datetime.now(timezone.utc).isoformat()
        events = [{"event_id": f"{prefix}-{b}-{i}", "type": "view", "product_id": f"p-{i % 97}",
                   "session_id": f"s-{b}", "timestamp": now} for i in range(size)]
        response = client.post("/api/v1/events", json={"events": events})
        if response.status_code == 202:
            accepted.extend(response.json["event_ids"])
        time.sleep(pause)
    return accepted


def wait_until_stored(settings, prefix: str, expected: int, timeout: float = 120) -> tuple[int, int]:
    wait_for(lambda: stored_counts(settings, prefix)[0] >= expected and not any(event_buffer.backlog().values()),
             timeout=timeout, interval=0.5, message=f"{expected} stored events and an empty backlog")
    # A duplicate insert would land after the backlog emptied; give it the time of one flush.
    time.sleep(2)
    return stored_counts(settings, prefix)


def test_worker_killed_mid_batch(private, private_app, worker):
    _services, settings = private
    process, log_path = worker
    accepted = post_batches(private_app, 40, 1000, "kill")
    assert len(accepted) == 40_000

    # Kill the pool process while it has a claimed batch.
    wait_for(lambda: clients.redis_client().zcard(event_buffer.CLAIMS_KEY) > 0, timeout=30, interval=0.001,
             message="a claimed batch")
    child = pool_children(process.pid)[0]
    os.kill(child, signal.SIGKILL)
    claims_after_kill = clients.redis_client().zcard(event_buffer.CLAIMS_KEY)

    count, unique = wait_until_stored(settings, "kill", len(accepted))
    assert claims_after_kill > 0
    log = log_path.read_bytes()
    assert b"SIGKILL" in log
    assert b"events_claim_recovered" in log
    assert count == len(accepted)
    assert unique == len(accepted)


def test_clickhouse_stopped_during_ingestion(private, private_app, worker):
    services, settings = private
    accepted: list[str] = []
    sender = threading.Thread(target=lambda: accepted.extend(post_batches(private_app, 30, 500, "down", 0.2)))
    sender.start()

    time.sleep(1.5)
    services.run("stop", "clickhouse")
    time.sleep(3)
    services.run("start", "clickhouse")
    sender.join()

    count, unique = wait_until_stored(settings, "down", len(accepted))
    assert len(accepted) == 15_000
    assert count == len(accepted)
    assert unique == len(accepted)


def first_level_parts(settings) -> set[str]:
    """Return the names of the table's parts that an INSERT wrote (level 0), merged ones included."""
    client = ClickHouse(settings, timeout=30)
    try:
        rows = client.execute(
            "SELECT name FROM system.parts WHERE database = %(db)s AND table = 'events' AND level = 0",
            {"db": settings.clickhouse_db}, tag="test")
    finally:
        client.disconnect()
    return {name for name, in rows}


def test_single_event_requests_batched(private, private_app, worker):
    _services, settings = private
    parts_before = first_level_parts(settings)

    accepted = post_batches(private_app, 300, 1, "single")

    count, unique = wait_until_stored(settings, "single", len(accepted))
    inserts = len(first_level_parts(settings) - parts_before)
    assert count == 300
    assert unique == 300
    # 300 requests in a second or two: one INSERT per batch age, not one per request.
    assert 1 <= inserts <= 10
