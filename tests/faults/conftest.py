"""A private copy of the whole stack for fault injection.

Elasticsearch, ClickHouse and Redis run as instances of their own (own data
directory and ports), with gunicorn, a worker and beat pointed at them, so the
tests can stop and kill them without touching the servers other tests use.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest
import requests

from config import load_settings
from tests.conftest import ROOT, SERVICES, wait_for

ARTIFACTS = ROOT / "tests" / "artifacts"


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _free_ports(count: int) -> list[int]:
    """Ports free now, each with port + 100 free too (Elasticsearch's transport port)."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 100 < 65536 and _port_is_free(port + 100) and port not in ports:
            ports.append(port)
    return ports


class Stack:
    """The private services and processes, with the means to break and mend them."""

    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        # Free ports of its own, so two test runs on one machine never collide.
        es, clickhouse, clickhouse_http, redis, api = _free_ports(5)
        ports = {
            "LOCAL_ES_PORT": str(es),
            "LOCAL_CLICKHOUSE_PORT": str(clickhouse),
            "LOCAL_CLICKHOUSE_HTTP_PORT": str(clickhouse_http),
            "LOCAL_REDIS_PORT": str(redis),
        }
        self.service_env = {**os.environ, "LOCAL_STATE_DIR": str(state_dir), "ES_HEAP": "512m", **ports}
        self.settings = load_settings(
            debug=True,
            elastic_host=f"http://127.0.0.1:{es}",
            clickhouse_port=clickhouse,
            redis_url=f"redis://127.0.0.1:{redis}/0",
            clickhouse_db="faults",
            elastic_index="faults_products",
            event_batch_max_age=0.5,
        )
        self.app_env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "DEBUG": "true",
            "AUTH_ENABLED": "false",
            "RATE_LIMITS_ENABLED": "false",
            "ELASTIC_HOST": self.settings.elastic_url,
            "ELASTIC_INDEX": self.settings.elastic_index,
            "CLICKHOUSE_PORT": str(self.settings.clickhouse_port),
            "CLICKHOUSE_DB": self.settings.clickhouse_db,
            "REDIS_URL": self.settings.redis_dsn,
            "EVENT_BATCH_MAX_AGE": "0.5",
            # Web requests give up on a stopped store quickly.
            "WEB_ES_TIMEOUT": "2",
            "WEB_CLICKHOUSE_TIMEOUT": "3",
            "BIND": f"127.0.0.1:{api}",
            "WEB_CONCURRENCY": "2",
        }
        self.processes: dict[str, subprocess.Popen] = {}
        self.base_url = f"http://127.0.0.1:{api}"

    def services(self, action: str, *names: str) -> None:
        subprocess.run([str(SERVICES), action, *names], cwd=ROOT, env=self.service_env, check=True)

    def start_process(self, name: str, argv: list[str]) -> None:
        log = open(self.state_dir / f"{name}.log", "ab")
        self.processes[name] = subprocess.Popen(argv, cwd=ROOT, env=self.app_env, stdout=log,
                                                stderr=subprocess.STDOUT, start_new_session=True)

    def start_worker(self) -> None:
        self.start_process("worker", [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "worker",
                                      "-Q", "indexing,events,aggregation", "--concurrency", "2",
                                      "--loglevel", "INFO", "--without-gossip", "--without-mingle"])

    def kill_worker(self) -> int:
        """SIGKILL the worker and its pool children at once, as the OOM killer would."""
        process = self.processes.pop("worker")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        return process.pid

    def stop_all_processes(self) -> None:
        for process in self.processes.values():
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.processes.clear()

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(self.base_url + path, timeout=10, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return requests.post(self.base_url + path, timeout=10, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return requests.patch(self.base_url + path, timeout=10, **kwargs)

    def clickhouse_rows(self, sql: str, params: dict | None = None) -> list[tuple]:
        from storage.clickhouse import ClickHouse

        client = ClickHouse(self.settings, timeout=30)
        try:
            return client.execute(sql, params, tag="fault_test")
        finally:
            client.disconnect()


@dataclass
class Traffic:
    """Events and searches sent in a loop from a thread, with what was accepted."""

    stack: Stack
    accepted: set[str] = field(default_factory=set)
    answers: Counter = field(default_factory=Counter)
    searches: Counter = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self, product_ids: list[str]) -> "Traffic":
        def loop():
            http = requests.Session()
            number = 0
            while not self._stop.is_set():
                number += 1
                self._send_events(http, product_ids, number)
                if number % 3 == 0:
                    self._search(http)
                time.sleep(0.05)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=30)

    def _send_events(self, http: requests.Session, product_ids: list[str], number: int) -> None:
        now = datetime.now(timezone.utc).isoformat()
        events = [{"event_id": str(uuid.uuid4()), "type": "view", "product_id": product_ids[i % len(product_ids)],
                   "session_id": f"fault-{number}", "timestamp": now} for i in range(20)]
        try:
            response = http.post(self.stack.base_url + "/api/v1/events", json={"events": events}, timeout=10)
            status = response.status_code
        except requests.RequestException:
            status = "no answer"
        self.answers[status] += 1
        if status == 202:
            self.accepted.update(event["event_id"] for event in events)

    def _search(self, http: requests.Session) -> None:
        try:
            response = http.get(self.stack.base_url + "/api/v1/search", params={"q": "phone"}, timeout=10)
            status = response.status_code
            if status == 503:
                # Count a 503 under the dependency it names, so a test can tell them apart.
                status = f"503:{response.json()['errors'].get('dependency', '?')}"
        except requests.RequestException:
            status = "no answer"
        self.searches[status] += 1


@pytest.fixture(scope="module")
def stack(settings):
    state_dir = ROOT / ".local" / "private" / f"faults-{secrets.token_hex(3)}"
    state_dir.mkdir(parents=True)
    stack = Stack(state_dir)
    try:
        stack.services("start")
        from storage.setup import init_storage

        init_storage(stack.settings)
        stack.start_process("web", [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"])
        stack.start_worker()
        stack.start_process("beat", [sys.executable, "-m", "celery", "-A", "tasks.celery_app", "beat",
                                     "--schedule", str(state_dir / "celerybeat-schedule")])
        wait_for(lambda: _answers(stack, "/ready"), timeout=60, message="the private API to be ready")
        yield stack
    finally:
        stack.stop_all_processes()
        stack.services("stop")
        shutil.rmtree(state_dir, ignore_errors=True)
        # The storage clients of this process pointed at the private stack.
        from storage import clients

        clients.configure(settings)


def _answers(stack: Stack, path: str) -> bool:
    try:
        return stack.get(path).status_code == 200
    except requests.RequestException:
        return False


def record_figures(name: str, figures: dict) -> None:
    """Append one fault's figures to tests/artifacts/faults.json (ignored by git) and print them."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "faults.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = figures
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    print(f"fault {name}: {json.dumps(figures, default=str)}")
